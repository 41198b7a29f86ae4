"""A ``POST /jobs`` body from bytes to a core job, in Tork's order: content type, strict decode,
validation, translation — and a refusal naming what this engine cannot run yet (never a silent
change of meaning). Nothing is stored before this returns."""

from __future__ import annotations

from collections.abc import Collection

from myrmica.domain.tork.decode import JOB_CONTENT_TYPES, BadInput, body_format, decode
from myrmica.domain.tork.translate import ENGINE_GAPS, CoreJob, to_core
from myrmica.domain.tork.validate import PermissionCheck, validate_job


def unsupported(core: CoreJob, supported: Collection[str]) -> BadInput | None:
    """A 400 listing each need of ``core`` outside ``supported`` with what it would take, or None."""
    missing = [need for need in core.needs if need not in supported]
    if not missing:
        return None
    reasons = "; ".join(f"{need} ({ENGINE_GAPS[need]})" for need in missing)
    return BadInput(f"not supported by this server yet: {reasons}")


def read_job(body: str | bytes, content_type: str | None, *, supported: Collection[str] = (),
             accepted: tuple[str, ...] = JOB_CONTENT_TYPES,
             permission_exists: PermissionCheck | None = None) -> CoreJob:
    fmt = body_format(content_type, accepted)
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    job = decode(text, fmt)
    validate_job(job, permission_exists=permission_exists)
    core = to_core(job, text)
    refusal = unsupported(core, supported)
    if refusal is not None:
        raise refusal
    return core
