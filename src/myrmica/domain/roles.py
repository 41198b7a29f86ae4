"""Who may do what: four roles instead of Formicary's per-resource bitmask ACL (spec §4).

Formicary gives each route one permission (a resource and an action bit: ``JobRequest:Submit``,
``Organization:Invite``, …) and each user a set of them; ``Admin`` passes every check, ``ReadAdmin``
every read. Myrmica keeps the *default* permission sets of its roles and drops per-user grants:

* ``admin`` (Formicary ``Admin``): everything, every tenant.
* ``org admin`` (``OrgAdmin``): a member who also manages their own organisation: its profile, its
  users, invitations, its configs and its audit trail.
* ``member`` (a user with the default permissions): their tenant's jobs, requests, resources, error
  codes readable, their own profile, tokens and email.
* ``read-only`` (``ReadOnly``): a member who may read (the bits View/Read/Query) and manage nothing
  but their own tokens.

Formicary's ``ReadAdmin`` maps to ``admin`` for reads only: it is kept as a role name here, and a
ReadAdmin may read what an admin reads and change nothing (like read-only, across tenants).
"""

from __future__ import annotations

from enum import IntEnum

from myrmica.domain.principal import Principal

ORG_ADMIN_ROLES = frozenset({"OrgAdmin", "org_admin"})
READ_ONLY_ROLES = frozenset({"ReadOnly", "read_only", "ReadAdmin"})
ROLE_NAMES = ("Admin", "OrgAdmin", "ReadOnly", "ReadAdmin")


class Role(IntEnum):
    """A route's least role, in order: a role passes every check of the roles below it."""

    READ_ONLY = 1
    MEMBER = 2
    ORG_ADMIN = 3
    ADMIN = 4


def role_of(principal: Principal) -> Role:
    if principal.admin:
        return Role.ADMIN
    if principal.roles & READ_ONLY_ROLES:
        return Role.READ_ONLY
    if principal.roles & ORG_ADMIN_ROLES and principal.organization_id:
        return Role.ORG_ADMIN
    return Role.MEMBER


def reads_everything(principal: Principal) -> bool:
    """The admin, and Formicary's ReadAdmin (reads only)."""
    return principal.admin or "ReadAdmin" in principal.roles


def allows(principal: Principal, needed: Role) -> bool:
    return role_of(principal) >= needed


def manages_org(principal: Principal, org_id: str) -> bool:
    """The admin, or an org admin of that organisation."""
    return principal.admin or (role_of(principal) == Role.ORG_ADMIN and principal.organization_id == org_id)


def parse_roles(raw: object) -> str:
    """Roles as stored (``Admin;OrgAdmin``) from a list or a ``;``/``,`` string; unknown names refused."""
    if raw is None or raw == "":
        return ""
    items = raw if isinstance(raw, list) else str(raw).replace(",", ";").split(";")
    names = [str(item).strip() for item in items if str(item).strip()]
    unknown = [name for name in names if name not in ROLE_NAMES]
    if unknown:
        raise ValueError(f"unknown roles {unknown}; known: {', '.join(ROLE_NAMES)}")
    return ";".join(dict.fromkeys(names))
