"""Public plugins' names (spec §2.1): ``org.bundle.name``, at least three dot-separated parts, the first
being the publishing organisation's bundle. Another tenant reaches a plugin only by such a name, so a
plugin can never take the place of an ordinary job type (``deploy``) that a tenant lacks."""

from __future__ import annotations

from myrmica.domain.errors import ValidationError

MIN_PARTS = 3


def is_plugin_name(job_type: str) -> bool:
    parts = job_type.split(".")
    return len(parts) >= MIN_PARTS and all(parts)


def check_plugin_name(job_type: str, bundle: str | None) -> None:
    """Refuse a public plugin outside an organisation, or whose name is not ``<bundle>.<group>.<name>``.

    ``bundle`` is the organisation's bundle id (its name when it has none); None when the user has no
    organisation."""
    if bundle is None:
        raise ValidationError("a public plugin must belong to an organisation; this user has none",
                              field="public_plugin")
    if not is_plugin_name(job_type):
        raise ValidationError(f"a public plugin's job_type must be named org.bundle.name, at least three "
                              f"non-empty parts separated by dots (e.g. {bundle}.tools.{job_type or 'name'}), "
                              f"not {job_type!r}", field="job_type")
    if job_type.split(".")[0] != bundle:
        raise ValidationError(f"a public plugin's job_type must start with its organisation's bundle "
                              f"{bundle + '.'!r}: {job_type!r}", field="job_type")
