"""Formicary's API documents (seeds 000 and 001): the operations and models they document, read from
``../shared/seeds/`` beside the checkout when it is there, and the same facts checked in here, so the
audit (``tests/e2e/test_formicary_seed_audit.py``) runs without them and the README's route table is
checked against one list.

``MYRMICA_TEST_SHARED_SEEDS`` points at the seeds elsewhere; without it they are looked for beside
``MYRMICA_TEST_SHARED_EXAMPLES`` (see ``tests/support/examples.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.examples import REPOSITORY, SHARED_EXAMPLES

SEEDS = Path(os.environ.get("MYRMICA_TEST_SHARED_SEEDS") or SHARED_EXAMPLES.parent / "seeds")
NO_SEEDS = f"{SEEDS} (../shared/seeds) not beside this checkout"
README = REPOSITORY / "README.md"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as the seeds write it, with {param} for :param
    what: str  # a line for the README's route table

    @property
    def key(self) -> tuple[str, str]:
        return self.method, template(self.path)

    @property
    def paged(self) -> bool:
        return ", paged" in self.what


def template(path: str) -> str:
    """A path with every parameter (``{id}``, ``{jobId}``, ``:id``) as ``{}``."""
    return re.sub(r"\{[^}/]+\}|:\w+", "{}", path)


def seed_file(prefix: str) -> Path | None:
    found = sorted(SEEDS.glob(f"{prefix}_*.txt")) if SEEDS.is_dir() else []
    return found[0] if found else None


def seed_operations(swagger: str, reference: str) -> set[tuple[str, str]]:
    """(method, path template) of every operation: seed 000's ``### /path`` + ``#### METHOD``
    headings, seed 001's ``### `METHOD /path` `` headings."""
    found: set[tuple[str, str]] = set()
    path = ""
    for line in _api_part(swagger).splitlines():
        if heading := re.match(r"^### (/\S+)\s*$", line):
            path = heading.group(1)
        elif (method := re.match(r"^#### ([A-Z]+)\s*$", line)) and method.group(1) in METHODS:
            found.add((method.group(1), template(path)))
    for method_name, route in re.findall(r"^### `([A-Z]+) (/\S+)`", reference, re.MULTILINE):
        if method_name in METHODS:
            found.add((method_name, template(route)))
    return found


def seed_models(swagger: str) -> dict[str, tuple[str, ...]]:
    """Each model of seed 000's ``### Models`` with its field names, in the seed's order."""
    models: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in swagger.partition("### Models")[2].splitlines():
        if heading := re.match(r"^#### (\w+)", line):
            current = models.setdefault(heading.group(1), [])
        elif (row := re.match(r"^\| (\w+) \|", line)) and current is not None and row.group(1) != "Name":
            current.append(row.group(1))
    return {name: tuple(fields) for name, fields in models.items()}


def _answer_rows(swagger: str) -> Iterator[tuple[str, str, str]]:
    """(method, path template, line) for each 2xx answer row of seed 000's operations."""
    path, method = "", ""
    for line in _api_part(swagger).splitlines():
        if heading := re.match(r"^### (/\S+)\s*$", line):
            path = heading.group(1)
        elif verb := re.match(r"^#### ([A-Z]+)\s*$", line):
            method = verb.group(1)
        elif re.match(r"^\| 2\d\d \|", line) and method:
            yield method, template(path), line


def seed_answers(swagger: str) -> dict[tuple[str, str], str]:
    """The model each operation of seed 000 answers with (a page's record model for a page)."""
    out: dict[tuple[str, str], str] = {}
    for method, path, line in _answer_rows(swagger):
        answer = re.match(r"^\| 2\d\d \|.*\|(.*)\|\s*$", line)
        model = re.search(r"\[(\w+)\]\(#", answer.group(1)) if answer else None
        if model:
            out[(method, path)] = model.group(1)
    return out


def seed_paged(swagger: str) -> set[tuple[str, str]]:
    """The operations of seed 000 that answer a ``Page/PageSize/Records/...`` envelope."""
    return {(method, path) for method, path, line in _answer_rows(swagger) if '**"Page"**' in line}


def _api_part(swagger: str) -> str:
    return swagger.partition("### Models")[0]


def readme_operations(text: str) -> set[tuple[str, str]]:
    """The rows ``| METHOD | `path` | … |`` of the README's native route table."""
    return {(m, template(p)) for m, p in re.findall(r"^\| (GET|POST|PUT|DELETE|PATCH) \| `(/api/[^`]+)` \|",
                                                     text, re.MULTILINE)}


# --- the seeds' facts, checked in ----------------------------------------------------------------

_OPS = """
GET /api/health | the server's and its dependencies' health (no token)
GET /api/metrics | Prometheus metrics (admin)
GET /api/ants | the ants (workers): methods, tags, capacity, load, allocations, paged (admin)
GET /api/ants/{id} | one ant (admin)
GET /api/executors | running task executors with their lifecycle fields, paged (admin)
GET /api/executors/{id} | one running executor, by task execution id or container id/name (admin)
DELETE /api/executors/{id} | stop a running executor; its task fails as cancelled (admin)
GET /api/jobs/definitions | definitions (filters `job_type`, `platform`, `tags`, ...), paged
POST /api/jobs/definitions | upload a definition (YAML or JSON); a changed one is a new version
GET /api/jobs/definitions/{id} | one definition by id or `job_type`
DELETE /api/jobs/definitions/{id} | delete a definition
PUT /api/jobs/definitions/{id}/concurrency | set `max_concurrency`
POST /api/jobs/definitions/{id}/disable | disable: no new requests start
POST /api/jobs/definitions/{id}/enable | enable again
GET /api/jobs/definitions/{id}/dot | the task graph in Graphviz DOT
GET /api/jobs/definitions/{id}/dot.png | the task graph as PNG
GET /api/jobs/definitions/{id}/stats | the job type's JobStats (counts, latencies in ms, ants)
GET /api/jobs/definitions/{type}/yaml | the definition's YAML
GET /api/jobs/plugins | public plugins (definitions with `public_plugin`), paged
GET /api/jobs/definitions/{jobId}/configs | the definition's configs, paged (secrets masked)
POST /api/jobs/definitions/{jobId}/configs | add a config to a definition
GET /api/jobs/definitions/{jobId}/configs/{id} | one definition config
PUT /api/jobs/definitions/{jobId}/configs/{id} | change a definition config
DELETE /api/jobs/definitions/{jobId}/configs/{id} | delete a definition config
GET /api/jobs/requests | requests (filters `job_type`, `job_state`, ...), paged
POST /api/jobs/requests | submit a request (`job_type`, `params`, `scheduled_at`, ...); 201
GET /api/jobs/requests/{id} | one request with its execution, tasks and their artifacts
POST /api/jobs/requests/{id}/cancel | cancel a request
POST /api/jobs/requests/{id}/pause | pause an executing request (it resumes after `pause_time`)
POST /api/jobs/requests/{id}/restart | run a finished request again
POST /api/jobs/requests/{id}/trigger | start a scheduled request now
POST /api/jobs/requests/{id}/review | approve or reject a manual task (seed 001's form of the vote)
GET /api/jobs/requests/{id}/dot | the request's graph in DOT, coloured by task state
GET /api/jobs/requests/{id}/dot.png | the same as PNG
GET /api/jobs/requests/{id}/wait_time | JobWaitEstimate: place in queue, estimated wait, JobStats
GET /api/jobs/requests/dead_ids | ids of finished requests
GET /api/jobs/requests/stats | JobCounts per job type, state and error code
GET /api/jobs/resources | job resources, paged
POST /api/jobs/resources | add a job resource (`resource_type`, `quota`, ...)
GET /api/jobs/resources/{id} | one resource with its configs (secrets masked)
PUT /api/jobs/resources/{id} | change a resource
POST /api/jobs/resources/{id}/configs | add a config to a resource
DELETE /api/jobs/resources/{id}/configs/{configId} | delete a resource config
POST /api/jobs/resources/{id}/disable | disable a resource (`/enable` enables it)
GET /api/artifacts | artifacts (filters `name`, `group`, `kind`, `job_request_id`, `sha256`, ...), paged
POST /api/artifacts | upload the body as an artifact
GET /api/artifacts/{id} | one artifact's metadata
GET /api/artifacts/{id}/download | its bytes (by id or SHA-256)
GET /api/artifacts/{id}/logs | the log of the task that made it
DELETE /api/artifacts/{id} | delete an artifact and its object
POST /api/logs | append a LogEvent's lines to a request's log
GET /api/audits | audit records (filters `kind`, `target_id`, `user_id`, ...), paged (org admin)
GET /api/configs | system configs, paged (admin)
POST /api/configs | add a system config (admin)
GET /api/configs/{id} | one system config (admin)
PUT /api/configs/{id} | change a system config (admin)
DELETE /api/configs/{id} | delete a system config (admin)
GET /api/errors | error codes (the seed's filters), paged
POST /api/errors | add an error code (admin)
PUT /api/errors | change an error code, id in the body (admin)
GET /api/errors/{id} | one error code
DELETE /api/errors/{id} | delete an error code (admin)
GET /api/orgs | organisations, paged
POST /api/orgs | add an organisation (admin)
GET /api/orgs/{id} | one organisation
PUT /api/orgs/{id} | change an organisation (its org admin or the admin)
DELETE /api/orgs/{id} | delete an organisation without users (admin)
POST /api/orgs/{id}/invite | invite an email address; the code expires after 3 days (org admin)
POST /api/orgs/usage_report | CombinedResourceUsage per organisation and user (`from`, `to`; admin)
GET /api/orgs/{orgId}/configs | the organisation's configs, paged (secrets masked)
POST /api/orgs/{orgId}/configs | add an organisation config (org admin)
GET /api/orgs/{orgId}/configs/{id} | one organisation config
PUT /api/orgs/{orgId}/configs/{id} | change an organisation config (org admin)
DELETE /api/orgs/{orgId}/configs/{id} | delete an organisation config (org admin)
GET /api/subscriptions | subscriptions, paged (admin)
POST /api/subscriptions | add a subscription (admin)
GET /api/subscriptions/{id} | one subscription (admin)
PUT /api/subscriptions/{id} | change a subscription (admin)
DELETE /api/subscriptions/{id} | delete a subscription (admin)
GET /api/users | users (filters `name`, `username`, `email`), paged
POST /api/users | add a user (admin)
GET /api/users/{id} | one user (`me` works), with its `Organization`
PUT /api/users/{id} | change a user
DELETE /api/users/{id} | delete a user
PUT /api/users/{id}/notify | the user's notification settings
POST /api/users/{id}/verify_email | mail a verification code to the user's address
PUT /api/users/{id}/verify_email/{code} | verify the address with the mailed code
GET /api/users/email_verifications | email verifications, paged (codes masked)
GET /api/users/{userId}/tokens | the user's API tokens (never the token itself)
POST /api/users/{userId}/tokens | make an API token (shown once)
DELETE /api/users/{userId}/tokens/{id} | revoke an API token
"""

OPERATIONS: tuple[Operation, ...] = tuple(
    Operation(*line.partition(" | ")[0].split(" ", 1), line.partition(" | ")[2])
    for line in _OPS.strip().splitlines())

# Seed 000's fields of the models the audit reads from live answers.
_MODELS = {
    "AntRegistration": "allocations ant_id ant_started_at ant_topic auto_refresh created_at current_load "
                       "encryption_key max_capacity methods tags total_executed",
    "Artifact": "artifact_order bucket content_length content_type created_at etag expires_at group id "
                "job_execution_id job_request_id kind metadata name organization_id permissions sha256 tags "
                "task_execution_id task_type updated_at url user_id",
    "AuditRecord": "created_at error id job_type kind message organization_id remote_ip target_id url user_id",
    "CombinedResourceUsage": "cpu_resource disk_resource organization_id user_id",
    "ContainerLifecycleEvent": "ant_id container_id container_name container_state created_at ended_at event_type id "
                               "labels method source started_at user_id",
    "EmailVerification": "created_at email email_code expires_at id organization_id user_id verified_at",
    "ErrorCode": "action command_scope created_at description display_code display_message error_code exit_code "
                 "hard_failure id job_type organization_id platform_scope regex retry task_type_scope updated_at "
                 "user_id",
    "HealthQueryResponse": "dependent_service_statuses overall_status",
    "JobCounts": "counts end_time end_time_string error_code job_state job_type organization_id start_time "
                 "start_time_stirng user_id",
    "JobDefinition": "created_at cron_trigger delay_between_retries description disabled hard_reset_after_retries id "
                     "job_type job_variables max_concurrency methods notify organization_id pause_time platform "
                     "public_plugin required_params resources retry sem_version tags tasks timeout updated_at url "
                     "user_id",
    "JobDefinitionConfig": "created_at id job_definition_id name secret type updated_at value",
    "JobExecution": "contexts cpu_secs ended_at error_code error_message exit_code exit_message id job_request_id "
                    "job_state job_type job_version organization_id started_at tasks updated_at user_id",
    "JobRequest": "created_at cron_triggered description error_code error_message execution id job_definition_id "
                  "job_execution_id job_group job_priority job_state job_type job_version last_job_execution_id "
                  "organization_id params parent_id permissions platform quick_search retried schedule_attempts "
                  "scheduled_at timeout updated_at user_id user_key",
    "JobResource": "category created_at description disabled external_id extract_config id lease_timeout "
                   "organization_id platform quota resource_type resource_variables tags updated_at user_id "
                   "valid_status value",
    "JobResourceConfig": "created_at id job_resource_id name secret type updated_at value",
    "JobStats": "ant_unavailable_error ants_available ants_capacity executing_jobs failed_jobs "
                "failed_jobs_average_latency failed_jobs_max_latency failed_jobs_min_latency first_job_at "
                "job_disabled job_key last_job_at paused_jobs succeeded_jobs succeeded_jobs_average_latency "
                "succeeded_jobs_max_latency succeeded_jobs_min_latency succeeded_jobs_percentage",
    "JobWaitEstimate": "JobRequest JobStats error_message estimated_wait pending_job_ids queue_number scheduled_at",
    "Organization": "bundle_id created_at id license_policy max_concurrency org_unit owner_user_id parent_id salt "
                    "sticky_message subscription updated_at",
    "OrganizationConfig": "created_at id name organization_id secret type updated_at value",
    "Subscription": "active cpu_quota created_at disk_quota ended_at id kind organization_id period policy price "
                    "remaining_cpu_quota remaining_disk_quota started_at updated_at user_id",
    "SystemConfig": "created_at id kind name scope secret updated_at value",
    "TaskDefinition": "after_script allow_failure allow_start_if_completed always_run artifact_ids await_forked_tasks "
                      "before_script created_at delay_between_retries dependencies description except fork_job_type "
                      "headers host_network id job_definition_id job_version messaging_reply_queue "
                      "messaging_request_queue method on_completed on_exit_code on_failed report_stdout resources "
                      "retry script tags task_type timeout updated_at url variables webhook",
    "TaskExecution": "allow_failure ant_host ant_id artifacts contexts cost_factor count_services ended_at error_code "
                     "error_message exit_code exit_message failed_command id job_execution_id method retried "
                     "started_at stdout task_order task_state task_type updated_at",
    "User": "Organization auth_id auth_provider bundle_id created_at email id max_concurrency name notify "
            "organization_id picture_url salt sticky_message subscription updated_at url username",
    "UserInvitation": "created_at email expires_at id invitation_code invited_by_user_id org_unit organization_id",
    "UserToken": "created_at expires_at id organization_id sha256 token_name user_id",
}
MODEL_FIELDS: dict[str, tuple[str, ...]] = {name: tuple(fields.split()) for name, fields in _MODELS.items()}

# Documented fields Myrmica does not serve, on purpose: secrets of Formicary's own design. Users'
# and organisations' `salt` (Formicary salts its per-tenant hashes with it; Myrmica keeps no salt in
# these rows) and an ant's `encryption_key` (Formicary's ants register one for payloads; Myrmica's
# ants register none) would only leak, or be made up.
WITHHELD: dict[str, frozenset[str]] = {
    "User": frozenset({"salt"}),
    "Organization": frozenset({"salt"}),
    "AntRegistration": frozenset({"encryption_key"}),
}
