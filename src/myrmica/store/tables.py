"""SQLAlchemy Core tables of the core model. Changes here need an Alembic revision."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# Requests the scheduler may start (written out too: a partial index needs its predicate as literal SQL).
WAITING_STATES = ("PENDING", "PAUSED")
WAITING_PREDICATE = "job_state IN ('PENDING', 'PAUSED')"
# Requests a queen holds (claimed or running).
ACTIVE_STATES = ("READY", "EXECUTING")
ACTIVE_PREDICATE = "job_state IN ('READY', 'EXECUTING')"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[str]:
    return Column("id", String(26), primary_key=True)


def _stamps() -> list[Column[object]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ]


organizations = Table(
    "organizations", metadata, _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("bundle_id", String(200), nullable=False, default=""),
    Column("max_concurrency", Integer, nullable=False, default=3),
    # Formicary's Organization fields (0009): its owner, parent, licence policy and banner message.
    Column("owner_user_id", String(26), nullable=False, default=""),
    Column("parent_id", String(26), nullable=False, default=""),
    Column("license_policy", String(200), nullable=False, default=""),
    Column("sticky_message", Text, nullable=False, default=""),
    *_stamps(),
)

users = Table(
    "users", metadata, _id(),
    Column("username", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("email", String(200), nullable=False, default=""),
    Column("organization_id", String(26), ForeignKey("organizations.id"), nullable=True),
    Column("roles", String(500), nullable=False, default=""),
    Column("admin", Boolean, nullable=False, default=False),
    Column("max_concurrency", Integer, nullable=False, default=0),
    # A password for HTTP basic auth (Tork's POST /users): an argon2id hash, never the password (0006).
    Column("password_hash", String(200), nullable=True),
    # Formicary's User fields (0009): notification settings, profile links, a verified email.
    Column("notify", JSON, nullable=True),
    Column("picture_url", String(500), nullable=False, default=""),
    Column("url", String(500), nullable=False, default=""),
    Column("sticky_message", Text, nullable=False, default=""),
    Column("email_verified", Boolean, nullable=False, default=False),
    *_stamps(),
)

api_tokens = Table(
    "api_tokens", metadata, _id(),
    Column("user_id", String(26), ForeignKey("users.id"), nullable=False),
    Column("organization_id", String(26), nullable=True),
    Column("name", String(200), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("scopes", String(200), nullable=True),  # a Strait key's scopes, space-separated; NULL: all
    *_stamps(),
)

job_definitions = Table(
    "job_definitions", metadata, _id(),
    Column("owner_key", String(64), nullable=False),
    Column("organization_id", String(26), nullable=True),
    Column("user_id", String(26), nullable=True),
    Column("job_type", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sem_version", String(50), nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("max_concurrency", Integer, nullable=False, default=3),
    Column("public_plugin", Boolean, nullable=False, default=False),
    Column("platform", String(100), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("tags", String(1000), nullable=False, default=""),
    Column("methods", String(1000), nullable=False, default=""),
    Column("cron_trigger", String(200), nullable=False, default=""),
    Column("dialect", String(20), nullable=False, default="formicary"),
    Column("raw_format", String(10), nullable=False, default="yaml"),
    Column("raw_source", Text, nullable=False),
    Column("raw_digest", String(64), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("dialect_settings", JSON, nullable=True),
    *_stamps(),
    UniqueConstraint("owner_key", "job_type", "version"),
    Index("ix_job_definitions_lookup", "owner_key", "job_type", "active"),
    # At most one active version per job type and owner, even under concurrent uploads.
    Index("uq_job_definitions_active", "owner_key", "job_type", unique=True,
          sqlite_where=text("active"), postgresql_where=text("active")),
)

job_configs = Table(
    "job_configs", metadata, _id(),
    Column("owner_key", String(64), nullable=False),
    Column("job_type", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(50), nullable=False, default="string"),
    Column("value", Text, nullable=False),
    Column("secret", Boolean, nullable=False, default=False),
    *_stamps(),
    UniqueConstraint("owner_key", "job_type", "name"),
)

configs = Table(
    "configs", metadata, _id(),
    Column("scope", String(20), nullable=False),  # system | org | user
    Column("scope_id", String(26), nullable=False, default=""),
    Column("name", String(200), nullable=False),
    Column("kind", String(50), nullable=False, default="string"),
    Column("value", Text, nullable=False),
    Column("secret", Boolean, nullable=False, default=False),
    *_stamps(),
    UniqueConstraint("scope", "scope_id", "name"),
)

audit_records = Table(
    "audit_records", metadata, _id(),
    Column("kind", String(60), nullable=False),
    Column("target_id", String(100), nullable=False, default=""),
    Column("user_id", String(26), nullable=True),
    Column("organization_id", String(26), nullable=True),
    Column("job_type", String(100), nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("remote_ip", String(64), nullable=False, default=""),
    Column("url", String(500), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_records_target", "target_id"),
)

job_requests = Table(
    "job_requests", metadata, _id(),
    Column("parent_id", String(26), nullable=True),
    Column("user_key", String(300), nullable=True),
    Column("job_definition_id", String(26), nullable=False),
    Column("job_execution_id", String(26), nullable=True),
    Column("last_job_execution_id", String(26), nullable=True),
    Column("owner_key", String(64), nullable=False),
    Column("organization_id", String(26), nullable=True),
    Column("user_id", String(26), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("platform", String(100), nullable=False, default=""),
    Column("job_type", String(100), nullable=False),
    Column("job_version", String(50), nullable=False, default=""),
    Column("job_state", String(40), nullable=False),
    Column("job_group", String(100), nullable=False, default=""),
    Column("job_priority", Integer, nullable=False, default=0),
    Column("schedule_attempts", Integer, nullable=False, default=0),
    Column("retried", Integer, nullable=False, default=0),
    Column("paused_count", Integer, nullable=False, default=0),
    Column("cron_triggered", Boolean, nullable=False, default=False),
    Column("error_code", String(100), nullable=False, default=""),
    Column("error_message", Text, nullable=False, default=""),
    Column("current_task", String(100), nullable=False, default=""),
    Column("hard_restart", Boolean, nullable=False, default=False),
    Column("cascade_cancel", Boolean, nullable=False, default=False),
    Column("params", JSON, nullable=False),
    Column("secret_params", JSON, nullable=True),
    # Labels a dialect gave the request, for search (Tork's job tags): a JSON list of strings, as text.
    Column("labels", Text, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    # When a request that ended is deleted with its runs and logs (Tork's autoDelete; 0006).
    Column("delete_at", DateTime(timezone=True), nullable=True),
    # A first run picked up after this fails ERR_EXPIRED instead of running (Fastlane's expiration; 0011).
    Column("expires_at", DateTime(timezone=True), nullable=True),
    *_stamps(),
    Index("ix_job_requests_due", "job_state", "scheduled_at").ddl_if(dialect="sqlite"),
    # PostgreSQL: partial indexes, so that no plan of a conditional update (WHERE id = $1 AND
    # job_state = $2) can prefer a state index to the primary key (migration 0003).
    Index("ix_job_requests_waiting", "scheduled_at",
          postgresql_where=text(WAITING_PREDICATE)).ddl_if(dialect="postgresql"),
    Index("ix_job_requests_active", "owner_key", "job_type",
          postgresql_where=text(ACTIVE_PREDICATE)).ddl_if(dialect="postgresql"),
    Index("ix_job_requests_type", "owner_key", "job_type", "job_state"),
    Index("ix_job_requests_parent", "parent_id"),
    Index("ix_job_requests_delete_at", "delete_at"),
    # Idempotency keys are the tenant's own: another tenant's live key neither returns nor blocks (0004).
    Index("uq_job_requests_owner_user_key", "owner_key", "user_key", unique=True),
    # SQLite only: the scheduler's queue in the order it takes requests, so a pass reads its first rows
    # instead of sorting every waiting one. (On PostgreSQL, where entries of started requests linger
    # until vacuum, the sort over the due index measured faster.)
    Index("ix_job_requests_queue", text("job_priority DESC"), "created_at", "id",
          sqlite_where=text(WAITING_PREDICATE)).ddl_if(dialect="sqlite"),
)

job_executions = Table(
    "job_executions", metadata, _id(),
    Column("job_request_id", String(26), nullable=False, index=True),
    Column("job_type", String(100), nullable=False),
    Column("job_version", String(50), nullable=False, default=""),
    Column("job_state", String(40), nullable=False),
    Column("organization_id", String(26), nullable=True),
    Column("user_id", String(26), nullable=True),
    Column("current_task", String(100), nullable=False, default=""),
    Column("exit_code", String(100), nullable=False, default=""),
    Column("exit_message", Text, nullable=False, default=""),
    Column("error_code", String(100), nullable=False, default=""),
    Column("error_message", Text, nullable=False, default=""),
    Column("contexts", JSON, nullable=False),
    Column("cpu_secs", Float, nullable=False, default=0.0),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

task_executions = Table(
    "task_executions", metadata, _id(),
    Column("job_execution_id", String(26), nullable=False, index=True),
    Column("job_request_id", String(26), nullable=False),
    Column("task_type", String(100), nullable=False),
    Column("parent_task_id", String(26), nullable=True),
    Column("item_index", Integer, nullable=True),
    Column("method", String(40), nullable=False),
    Column("task_state", String(40), nullable=False),
    Column("allow_failure", Boolean, nullable=False, default=False),
    Column("exit_code", String(100), nullable=False, default=""),
    Column("exit_message", Text, nullable=False, default=""),
    Column("error_code", String(100), nullable=False, default=""),
    Column("error_message", Text, nullable=False, default=""),
    Column("failed_command", Text, nullable=False, default=""),
    Column("comments", Text, nullable=False, default=""),
    Column("ant_id", String(100), nullable=False, default=""),
    Column("ant_host", String(200), nullable=False, default=""),
    Column("retried", Integer, nullable=False, default=0),
    Column("attempt", Integer, nullable=False, default=0),
    Column("contexts", JSON, nullable=False),
    Column("stdout", JSON, nullable=False),
    Column("task_order", Integer, nullable=False, default=0),
    Column("cost_factor", Float, nullable=False, default=0.0),
    Column("log_bytes", BigInteger, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

log_lines = Table(
    "log_lines", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_request_id", String(26), nullable=False),
    Column("task_execution_id", String(26), nullable=False),
    Column("task_type", String(100), nullable=False),
    Column("stream", String(10), nullable=False),
    Column("line", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_log_lines_request", "job_request_id", "id"),
)

approval_votes = Table(
    "approval_votes", metadata, _id(),
    Column("job_request_id", String(26), nullable=False),
    Column("task_execution_id", String(26), nullable=False),
    Column("task_type", String(100), nullable=False),
    Column("voter", String(200), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("comments", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("task_execution_id", "voter"),
)

ants = Table(
    "ants", metadata,
    Column("ant_id", String(100), primary_key=True),
    Column("host", String(200), nullable=False, default=""),
    Column("version", String(50), nullable=False, default=""),
    Column("methods", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("max_capacity", Integer, nullable=False),
    Column("current_load", Integer, nullable=False, default=0),
    Column("total_executed", BigInteger, nullable=False, default=0),
    Column("embedded", Boolean, nullable=False, default=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# Ants no queen schedules to (Fastlane's docker-host blacklist; 0011): they stay registered and finish
# what they run.
ant_blacklist = Table(
    "ant_blacklist", metadata,
    Column("ant_id", String(100), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Event triggers' state (0013, spec §2.8): an S3 trigger's watermark (``cursor``) and the objects it
# claimed but may not have submitted yet (``pending``); ``version`` makes every change a conditional
# update, so two queens never claim the same objects.
trigger_states = Table(
    "trigger_states", metadata,
    Column("owner_key", String(64), nullable=False),
    Column("job_type", String(100), nullable=False),
    Column("name", String(100), nullable=False),
    Column("trigger_type", String(20), nullable=False),
    Column("cursor", JSON, nullable=True),
    Column("pending", JSON, nullable=False),
    Column("fired_count", BigInteger, nullable=False, server_default=text("0")),
    Column("version", BigInteger, nullable=False, server_default=text("0")),
    Column("last_fired_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("rate_hits", JSON, nullable=True),  # epoch seconds of the fires in the rate_limit window
    Column("rate_version", BigInteger, nullable=False, server_default=text("0")),
    UniqueConstraint("owner_key", "job_type", "name", name="pk_trigger_states"),
)

leases = Table(
    "leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# The webhook outbox (0006): every call is stored before its first attempt, so a queen that dies
# mid-delivery leaves it to another (its lease lapses); it ends DELIVERED or FAILED, never dropped.
webhook_deliveries = Table(
    "webhook_deliveries", metadata, _id(),
    Column("source", String(100), nullable=False, default=""),
    Column("event", String(100), nullable=False, default=""),
    Column("method", String(10), nullable=False),
    Column("url", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON, encrypted with the server's secret key
    Column("body", Text, nullable=False),
    Column("policy", JSON, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=False, default=0),  # 0: no answer
    Column("last_error", Text, nullable=False, default=""),
    *_stamps(),
    # One delivery per event (0008): a second store of the same key is a no-op.
    Column("dedup_key", String(200), nullable=True),
    Column("signing", Text, nullable=True),  # JSON {scheme, secret}, encrypted: each attempt is signed
    # Every attempt (0015): [{at, status, error, state, body, headers}], oldest first, at most 100.
    Column("attempt_log", JSON, nullable=True),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_source", "source"),
    Index("ux_webhook_deliveries_dedup_key", "dedup_key", unique=True),
)

# What a run's own code reported (SDK callbacks) and what its end owes (0008): one row per request.
run_signals = Table(
    "run_signals", metadata,
    Column("request_id", String(26), primary_key=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("checkpoint", Text, nullable=True),  # JSON text, as the run sent it
    Column("checkpoint_at", DateTime(timezone=True), nullable=True),
    Column("progress", JSON, nullable=True),
    Column("result", JSON, nullable=True),  # an SDK complete's result
    Column("end_webhook", Text, nullable=True),  # JSON {url, secret, shape, ...}, encrypted
    Column("end_notice", String(10), nullable=True),  # WANTED | SENT
    *_stamps(),
    Index("ix_run_signals_heartbeat_at", "heartbeat_at"),
    Index("ix_run_signals_end_notice", "end_notice"),
)

# The Strait dialect (0007). A Strait job is a core definition (its configuration in the definition's
# dialect settings); these rows hold what the core has no column for: the slug (unique per project),
# a run's trigger facts (payload hash, idempotency key, TTL, tags), the dedup claims and dependencies.
strait_jobs = Table(
    "strait_jobs", metadata, _id(),
    Column("owner_key", String(64), nullable=False),
    Column("slug", String(128), nullable=False),
    Column("job_type", String(100), nullable=False),
    Column("tags", Text, nullable=False, default="{}"),  # canonical JSON (sorted keys), for the tag filter
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner_key", "slug"),
    Index("ix_strait_jobs_owner_created", "owner_key", "created_at"),
)

strait_runs = Table(
    "strait_runs", metadata,
    Column("request_id", String(26), primary_key=True),
    Column("job_id", String(26), nullable=False),
    Column("owner_key", String(64), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("idempotency_key", String(256), nullable=True),
    Column("concurrency_key", String(256), nullable=False, default=""),
    Column("dependency_key", String(256), nullable=True),  # the payload's top-level "dependency_key"
    Column("info", JSON, nullable=False),  # tags, metadata, triggered_by, batch_id, job_version(_id), created_by
    Column("scheduled_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_strait_runs_job_created", "job_id", "created_at"),
    Index("ix_strait_runs_expires_at", "expires_at"),
)

# One row per (job, canonical payload): the run a trigger within the job's dedup window returns. A claim
# is an insert, or an update of a claim older than the window, in one statement (race-safe across queens).
strait_dedup = Table(
    "strait_dedup", metadata,
    Column("job_id", String(26), primary_key=True),
    Column("payload_hash", String(64), primary_key=True),
    Column("request_id", String(26), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

strait_dependencies = Table(
    "strait_dependencies", metadata, _id(),
    Column("job_id", String(26), nullable=False),
    Column("depends_on_job_id", String(26), nullable=False),
    Column("condition", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_strait_dependencies_job_id", "job_id"),
    Index("ix_strait_dependencies_depends_on_job_id", "depends_on_job_id"),
)

# --- 0009: Formicary's accounts and catalogs ------------------------------------------------------

user_invitations = Table(
    "user_invitations", metadata, _id(),
    Column("email", String(200), nullable=False),
    Column("invitation_code", String(64), nullable=False, unique=True),
    Column("invited_by_user_id", String(26), nullable=False),
    Column("organization_id", String(26), ForeignKey("organizations.id"), nullable=False),
    Column("org_unit", String(200), nullable=False, default=""),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Column("accepted_by_user_id", String(26), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

email_verifications = Table(
    "email_verifications", metadata, _id(),
    Column("email", String(200), nullable=False),
    Column("email_code", String(64), nullable=False, unique=True),
    Column("user_id", String(26), ForeignKey("users.id"), nullable=False),
    Column("organization_id", String(26), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_email_verifications_user", "user_id"),
)

error_codes = Table(
    "error_codes", metadata, _id(),
    Column("regex", String(500), nullable=False, default=""),
    Column("exit_code", Integer, nullable=True),
    Column("error_code", String(100), nullable=False),
    Column("display_code", String(100), nullable=False, default=""),
    Column("display_message", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("command_scope", String(500), nullable=False, default=""),
    Column("platform_scope", String(100), nullable=False, default=""),
    Column("task_type_scope", String(100), nullable=False, default=""),
    Column("job_type", String(100), nullable=False, default=""),
    Column("action", String(20), nullable=False, default=""),
    Column("retry", Integer, nullable=False, default=0),
    Column("hard_failure", Boolean, nullable=False, default=False),
    Column("organization_id", String(26), nullable=True),
    Column("user_id", String(26), nullable=True),
    *_stamps(),
)

job_resources = Table(
    "job_resources", metadata, _id(),
    Column("owner_key", String(64), nullable=False),
    Column("organization_id", String(26), nullable=True),
    Column("user_id", String(26), nullable=True),
    Column("resource_type", String(100), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("platform", String(100), nullable=False, default=""),
    Column("category", String(100), nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("external_id", String(200), nullable=False, default=""),
    Column("quota", Integer, nullable=False, default=1),
    Column("lease_timeout", BigInteger, nullable=False, default=0),  # nanoseconds, as Formicary's JSON
    Column("value", Integer, nullable=False, default=1),
    Column("extract_config", JSON, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    *_stamps(),
    Index("ix_job_resources_owner", "owner_key", "resource_type"),
)

job_resource_configs = Table(
    "job_resource_configs", metadata, _id(),
    Column("job_resource_id", String(26), ForeignKey("job_resources.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(50), nullable=False, default="string"),
    Column("value", Text, nullable=False),
    Column("secret", Boolean, nullable=False, default=False),
    *_stamps(),
    UniqueConstraint("job_resource_id", "name"),
)

job_resource_uses = Table(
    "job_resource_uses", metadata, _id(),
    Column("job_resource_id", String(26), ForeignKey("job_resources.id", ondelete="CASCADE"), nullable=False),
    Column("job_request_id", String(26), nullable=False),
    Column("task_type", String(100), nullable=False, default=""),
    Column("value", Integer, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_job_resource_uses_resource", "job_resource_id"),
)

subscriptions = Table(
    "subscriptions", metadata, _id(),
    Column("user_id", String(26), nullable=True),
    Column("organization_id", String(26), nullable=True),
    Column("kind", String(50), nullable=False, default="FREE"),
    Column("policy", String(50), nullable=False, default=""),
    Column("period", String(50), nullable=False, default="MONTHLY"),
    Column("price", BigInteger, nullable=False, default=0),
    Column("cpu_quota", BigInteger, nullable=False, default=0),
    Column("disk_quota", BigInteger, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    *_stamps(),
)

# What the artifact store keeps (0010): task zips, caches (one row per key, replaced when saved again) and
# user uploads. ``key`` is the object's name in the store; ``id`` is the API's.
artifacts = Table(
    "artifacts", metadata, _id(),
    Column("key", String(900), nullable=False, unique=True),
    Column("bucket", String(500), nullable=False, default=""),
    Column("name", String(300), nullable=False, default=""),
    Column("group", String(200), nullable=False, default=""),
    Column("kind", String(30), nullable=False),  # TASK_ARTIFACTS | CACHE | USER_UPLOADED
    Column("sha256", String(64), nullable=False),
    Column("etag", String(100), nullable=False, default=""),
    Column("content_type", String(200), nullable=False, default="application/octet-stream"),
    Column("content_length", BigInteger, nullable=False, default=0),
    Column("metadata", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("owner_key", String(64), nullable=False),
    Column("user_id", String(26), nullable=True),
    Column("organization_id", String(26), nullable=True),
    Column("job_type", String(100), nullable=False, default=""),
    Column("job_request_id", String(26), nullable=True),
    Column("job_execution_id", String(26), nullable=True),
    Column("task_execution_id", String(26), nullable=True),
    Column("task_type", String(100), nullable=False, default=""),
    Column("artifact_order", Integer, nullable=False, default=0),
    Column("permissions", Integer, nullable=False, default=0),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    *_stamps(),
    Index("ix_artifacts_request", "job_request_id", "task_type"),
    Index("ix_artifacts_sha256", "sha256"),
    Index("ix_artifacts_expires_at", "expires_at"),
    Index("ix_artifacts_owner", "owner_key", "created_at"),
)
