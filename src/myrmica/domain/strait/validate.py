"""A Strait job body (create, update, clone), checked rule by rule (spec/strait.md §3, §9, §10).

Every rule failing is a :class:`StraitError` 400 naming the field; an unknown field is refused (Strait's
decoder rejects them). :func:`create_job` gives the job's configuration with Strait's defaults;
:func:`update_job` applies a partial update (only the fields present change) to a stored one.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from myrmica.domain.strait.errors import bad
from myrmica.domain.strait.schema import check_schema

MAX_NAME = 255
MAX_SLUG = 128
MAX_URL = 2048
MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 256
MAX_INT = 2**31 - 1
MAX_TEXT = 10_000
RETRY_STRATEGIES = ("exponential", "linear", "fixed", "custom")
VERSION_POLICIES = ("pin", "latest", "minor")
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TIMEOUT_SECS = 300
# scheme://[userinfo@](host|[v6])[:port][/path][?query][#fragment] (RFC 3986, http and https only)
_URL = re.compile(r"(?i:https?)://(?:[^@/?#\s]*@)?(?:\[(?P<host6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:/?#\s\[\]@]+))"
                  r"(?::(?P<port>\d{1,5}))?(?:[/?#]\S*)?")
BLOCKED_HOSTS = frozenset({"localhost", "metadata.google.internal", "metadata", "169.254.169.254"})

# The configuration fields (what create and update take), with their defaults. The job's own fields
# (id, project_id, version, version_id, created_*, updated_*) are the service's.
DEFAULTS: dict[str, Any] = {
    "group_id": "", "name": "", "slug": "", "description": "", "cron": "", "payload_schema": None, "tags": {},
    "endpoint_url": "", "fallback_endpoint_url": "", "max_attempts": DEFAULT_MAX_ATTEMPTS,
    "timeout_secs": DEFAULT_TIMEOUT_SECS, "max_concurrency": 0, "execution_window_cron": "", "timezone": "",
    "rate_limit_max": 0, "rate_limit_window_secs": 0, "max_concurrency_per_key": 0, "rate_limit_keys": [],
    "default_run_metadata": {}, "dedup_window_secs": 0, "enabled": True, "webhook_url": "", "webhook_secret": "",
    "run_ttl_secs": 0, "retry_strategy": "exponential", "retry_delays_secs": [], "environment_id": "",
    "version_policy": "pin", "backwards_compatible": False,
}
CREATE_ONLY = ("project_id",)
REQUIRED = ("name", "slug", "endpoint_url")


def _text(value: Any, field: str, maximum: int = MAX_TEXT, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise bad(f"{field} must be a string", field)
    if required and not value.strip():
        raise bad(f"{field} is required", field)
    if len(value) > maximum:
        raise bad(f"{field} must be at most {maximum} characters", field)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value) or "\x7f" in value:
        raise bad(f"{field} must not contain control characters", field)
    return value


def _int(value: Any, field: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise bad(f"{field} must be an integer", field)
    if value < minimum:
        raise bad(f"{field} must be {'positive' if minimum == 1 else f'at least {minimum}'}", field)
    if value > MAX_INT:
        raise bad(f"{field} must be at most {MAX_INT}", field)
    return int(value)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise bad(f"{field} must be true or false", field)
    return value


def check_cron(value: Any, field: str, message: str) -> str:
    """A 5-field cron (minute hour day-of-month month day-of-week, no seconds); "" when empty."""
    text = _text(value, field, 200)
    if not text.strip():
        return ""
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise bad(message, field)
    return text.strip()


def _string_map(value: Any, field: str, *, max_keys: int = MAX_TAGS, max_key: int = MAX_TAG_KEY,
                max_value: int = MAX_TAG_VALUE) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(f"{field} must be an object of strings", field)
    if len(value) > max_keys:
        raise bad(f"{field} may have at most {max_keys} keys", field)
    out: dict[str, str] = {}
    for key, item in value.items():
        if not key or len(key) > max_key:
            raise bad(f"{field} keys must be 1 to {max_key} characters", field)
        if not isinstance(item, str):
            raise bad(f"{field}.{key} must be a string", field)
        if len(item) > max_value:
            raise bad(f"{field}.{key} must be at most {max_value} characters", field)
        out[key] = item
    return out


def check_tags(value: Any, field: str = "tags") -> dict[str, str]:
    return _string_map(value, field)


def _literal_private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    cgnat = isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10")
    return bool(address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
                or address.is_reserved or address.is_multicast or cgnat)


def check_url(value: Any, field: str, *, required: bool = False, allow_private: bool = False,
              allowed_hosts: frozenset[str] = frozenset()) -> str:
    """An http(s) URL of a host that is not private, loopback, link-local or a metadata service (by its
    literal form; resolved names are checked by the executor) — unless private targets are allowed or the
    host (or host:port) is on the allow-list."""
    text = _text(value, field, MAX_URL, required=required)
    if not text:
        return ""
    match = _URL.fullmatch(text)
    if match is None or any(c.isspace() for c in text):
        raise bad(f"{field} must be an http or https URL", field)
    host = (match["host6"] or match["host"] or "").lower()
    port = int(match["port"]) if match["port"] else None
    if not host or (port is not None and not 0 < port < 65536):
        raise bad(f"{field} must be a valid URL", field)
    if allow_private or host in allowed_hosts or (port is not None and f"{host}:{port}" in allowed_hosts):
        return text
    if host in BLOCKED_HOSTS or host.endswith(".localhost") or _literal_private(host):
        raise bad(f"{field} must not target a private, loopback or link-local address", field)
    return text


def _rate_limit_keys(value: Any) -> list[dict[str, Any]]:
    field = "rate_limit_keys"
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise bad(f"{field} must be a list of at most {MAX_TAGS} {{name, max, window_secs}}", field)
    out = []
    names = set()
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "max", "window_secs"}:
            raise bad(f"{where} must be an object with name, max and window_secs", where)
        name = _text(item.get("name"), f"{where}.name", MAX_TAG_KEY, required=True)
        if name in names:
            raise bad(f"{where}.name {name!r} appears twice", f"{where}.name")
        names.add(name)
        out.append({"name": name, "max": _int(item.get("max"), f"{where}.max", minimum=1),
                    "window_secs": _int(item.get("window_secs"), f"{where}.window_secs", minimum=1)})
    return out


def _delays(value: Any) -> list[int]:
    field = "retry_delays_secs"
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise bad(f"{field} must be a list of at most 100 integers", field)
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            raise bad("retry_delays_secs values must be positive", field)
        out.append(min(item, MAX_INT))
    return out


def _timezone(value: Any) -> str:
    text = _text(value, "timezone", 100)
    if not text:
        return ""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(f"invalid timezone: {text}", "timezone") from None
    return text


def _payload_schema(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict | bool):
        raise bad("payload_schema must be a JSON Schema object", "payload_schema")
    if isinstance(value, dict) and not value:
        return None
    check_schema(value)
    return value


def check_field(name: str, value: Any, *, allow_private: bool = False,
                allowed_hosts: frozenset[str] = frozenset()) -> Any:
    """One configuration field, checked and normalised."""
    match name:
        case "name":
            return _text(value, name, MAX_NAME, required=True)
        case "slug":
            slug = _text(value, name, MAX_SLUG, required=True)
            if any(c.isspace() for c in slug) or "/" in slug:
                raise bad("slug must not contain spaces or slashes", name)
            return slug
        case "group_id" | "environment_id":
            return _text(value, name, 100)
        case "description":
            return _text(value, name)
        case "cron":
            return check_cron(value, name, "invalid cron expression")
        case "execution_window_cron":
            return check_cron(value, name, "invalid execution_window_cron expression")
        case "payload_schema":
            return _payload_schema(value)
        case "tags":
            return check_tags(value)
        case "default_run_metadata":
            return _string_map(value, name, max_keys=50)
        case "endpoint_url":
            return check_url(value, name, required=True, allow_private=allow_private, allowed_hosts=allowed_hosts)
        case "fallback_endpoint_url" | "webhook_url":
            return check_url(value, name, allow_private=allow_private, allowed_hosts=allowed_hosts)
        case "max_attempts" | "timeout_secs":
            return _int(value, name, minimum=1)
        case "max_concurrency" | "rate_limit_max" | "rate_limit_window_secs" | "max_concurrency_per_key" | \
                "dedup_window_secs" | "run_ttl_secs":
            return _int(0 if value is None else value, name)
        case "timezone":
            return _timezone(value)
        case "rate_limit_keys":
            return _rate_limit_keys(value)
        case "enabled" | "backwards_compatible":
            return _bool(value, name)
        case "webhook_secret":
            return _text(value, name, 1024)
        case "retry_strategy":
            text = value or "exponential"
            if text not in RETRY_STRATEGIES:
                raise bad("invalid retry_strategy: must be exponential, linear, fixed, or custom", name)
            return text
        case "retry_delays_secs":
            return _delays(value)
        case "version_policy":
            text = value or "pin"
            if text not in VERSION_POLICIES:
                raise bad("invalid version_policy: must be pin, latest, or minor", name)
            return text
    raise bad(f"unknown field {name!r}", name)


def _check_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad("invalid request body: expected a JSON object")
    return body


def _cross_checks(job: dict[str, Any]) -> None:
    if (job["rate_limit_max"] > 0) != (job["rate_limit_window_secs"] > 0):
        field = "rate_limit_window_secs" if job["rate_limit_max"] > 0 else "rate_limit_max"
        raise bad("rate_limit_max and rate_limit_window_secs are set together", field)
    if job["retry_strategy"] == "custom" and not job["retry_delays_secs"]:
        raise bad("retry_strategy custom needs retry_delays_secs", "retry_delays_secs")
    if job["webhook_secret"] and not job["webhook_url"]:
        raise bad("webhook_secret needs webhook_url", "webhook_secret")


def create_job(body: Any, *, allow_private: bool = False, allowed_hosts: frozenset[str] = frozenset()
               ) -> tuple[str, dict[str, Any]]:
    """(project_id as given — may be "", configuration with defaults) of a create body."""
    data = _check_object(body)
    unknown = sorted(set(data) - set(DEFAULTS) - set(CREATE_ONLY))
    if unknown:
        raise bad(f"invalid request body: unknown field {unknown[0]!r}", unknown[0])
    project = _text(data.get("project_id"), "project_id", 100)
    for name in REQUIRED:
        if data.get(name) in (None, ""):
            raise bad(f"{name} is required", name)
    job = dict(DEFAULTS)
    for name, value in data.items():
        if name in DEFAULTS:
            job[name] = check_field(name, value, allow_private=allow_private, allowed_hosts=allowed_hosts)
    _cross_checks(job)
    return project, job


def update_job(body: Any, current: dict[str, Any], *, allow_private: bool = False,
               allowed_hosts: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The configuration after a PATCH: only the fields present change (``null`` clears an optional one)."""
    data = _check_object(body)
    unknown = sorted(set(data) - set(DEFAULTS) - set(CREATE_ONLY))
    if unknown:
        raise bad(f"invalid request body: unknown field {unknown[0]!r}", unknown[0])
    if "project_id" in data and data["project_id"] not in (None, current.get("project_id")):
        raise bad("project_id cannot be changed", "project_id")
    job = {name: current.get(name, default) for name, default in DEFAULTS.items()}
    for name, value in data.items():
        if name in DEFAULTS:
            job[name] = check_field(name, value, allow_private=allow_private, allowed_hosts=allowed_hosts)
    _cross_checks(job)
    return job


def clone_body(body: Any) -> tuple[str, str]:
    data = _check_object(body)
    unknown = sorted(set(data) - {"name", "slug"})
    if unknown:
        raise bad(f"invalid request body: unknown field {unknown[0]!r}", unknown[0])
    if not data.get("name") or not data.get("slug"):
        raise bad("name and slug are required", "name" if not data.get("name") else "slug")
    return check_field("name", data["name"]), check_field("slug", data["slug"])


def canonical(value: Any) -> str:
    """JSON with sorted keys and no blanks (Go's re-serialisation of a decoded document)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
