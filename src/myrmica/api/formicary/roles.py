"""The least role each native route needs, checked at the door for every route (``api/auth.py``);
the services check the finer rules (whose organisation, whose user) behind it.

Reads need ``read-only``, changes ``member``, unless the table says otherwise. A route the admin
alone may use (system configs, subscriptions, ants, executors, metrics) is ``admin``; its reads
also pass for Formicary's ``ReadAdmin``. A refusal is a 403 whose body names ``role_required``.
"""

from __future__ import annotations

from myrmica.domain.principal import Principal
from myrmica.domain.roles import Role, allows, reads_everything

READS = frozenset({"GET", "HEAD"})

# (method, route path) → the least role; the rest follow READS → READ_ONLY, others → MEMBER.
ROUTE_ROLES: dict[tuple[str, str], Role] = {
    # One's own tokens: a read-only user manages them too (they are how it signs in).
    ("POST", "/api/users/{user_id}/tokens"): Role.READ_ONLY,
    ("DELETE", "/api/users/{user_id}/tokens/{token_id}"): Role.READ_ONLY,
    ("POST", "/api/users/{user_id}/tokens/{token_id}/delete"): Role.READ_ONLY,
    ("PUT", "/api/users/{user}/password"): Role.READ_ONLY,  # one's own (the admin: anyone's)
    # A webhook trigger takes no token at all (its own auth: HMAC, bearer or API key; spec §2.8).
    ("POST", "/api/triggers/{job_type}/{trigger_name}"): Role.READ_ONLY,
    # A job's event triggers (spec §2.8, /api/v1): listing them is reading the job, resetting a state
    # changes the job (JobDefinition:Update), a fire by hand submits a request (JobRequest:Submit).
    ("GET", "/api/v1/jobs/definitions/{job_type}/triggers"): Role.READ_ONLY,
    ("DELETE", "/api/v1/jobs/definitions/{job_type}/triggers/{name}/state"): Role.MEMBER,
    ("POST", "/api/v1/jobs/definitions/{job_type}/triggers/{name}/fire"): Role.MEMBER,
    # Users and organisations.
    ("POST", "/api/users"): Role.ADMIN,
    ("GET", "/api/orgs/usage_report"): Role.ADMIN,
    ("POST", "/api/orgs/usage_report"): Role.ADMIN,
    ("POST", "/api/orgs"): Role.ADMIN,
    ("PUT", "/api/orgs/{org_id}"): Role.ORG_ADMIN,
    ("DELETE", "/api/orgs/{org_id}"): Role.ADMIN,
    ("POST", "/api/orgs/{org_id}/invite"): Role.ORG_ADMIN,
    ("POST", "/api/orgs/{org_id}/configs"): Role.ORG_ADMIN,
    ("PUT", "/api/orgs/{org_id}/configs/{config_id}"): Role.ORG_ADMIN,
    ("DELETE", "/api/orgs/{org_id}/configs/{config_id}"): Role.ORG_ADMIN,
    ("GET", "/api/audits"): Role.ORG_ADMIN,
    # The admin's.
    ("GET", "/api/configs"): Role.ADMIN,
    ("POST", "/api/configs"): Role.ADMIN,
    ("GET", "/api/configs/{config_id}"): Role.ADMIN,
    ("PUT", "/api/configs/{config_id}"): Role.ADMIN,
    ("DELETE", "/api/configs/{config_id}"): Role.ADMIN,
    ("POST", "/api/errors"): Role.ADMIN,
    ("PUT", "/api/errors"): Role.ADMIN,
    ("PUT", "/api/errors/{error_id}"): Role.ADMIN,
    ("DELETE", "/api/errors/{error_id}"): Role.ADMIN,
    ("GET", "/api/subscriptions"): Role.ADMIN,
    ("POST", "/api/subscriptions"): Role.ADMIN,
    ("GET", "/api/subscriptions/{subscription_id}"): Role.ADMIN,
    ("PUT", "/api/subscriptions/{subscription_id}"): Role.ADMIN,
    ("DELETE", "/api/subscriptions/{subscription_id}"): Role.ADMIN,
    ("GET", "/api/ants"): Role.ADMIN,
    ("GET", "/api/ants/{ant_id}"): Role.ADMIN,
    ("GET", "/api/executors"): Role.ADMIN,
    ("GET", "/api/executors/{executor_id}"): Role.ADMIN,
    ("DELETE", "/api/executors/{task_execution_id}"): Role.ADMIN,
    ("GET", "/api/metrics"): Role.ADMIN,
    ("GET", "/metrics"): Role.ADMIN,
}

ROLE_LABEL = {Role.READ_ONLY: "read-only", Role.MEMBER: "member", Role.ORG_ADMIN: "org admin", Role.ADMIN: "admin"}


def required_role(method: str, path: str) -> Role:
    found = ROUTE_ROLES.get((method, path))
    if found is not None:
        return found
    return Role.READ_ONLY if method in READS else Role.MEMBER


def refusal(principal: Principal, method: str, path: str) -> Role | None:
    """The role the route needs when the principal's falls short (None: it may go on)."""
    needed = required_role(method, path)
    if allows(principal, needed):
        return None
    if needed == Role.ADMIN and method in READS and reads_everything(principal):
        return None  # Formicary's ReadAdmin reads what the admin reads
    return needed
