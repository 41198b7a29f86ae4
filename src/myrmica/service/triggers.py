"""Webhook triggers (spec §2.8): ``POST /api/triggers/{job_type}/{trigger_name}`` makes a request of the
job whose definition lists a ``type: webhook`` trigger of that name.

No API token: a trigger is authenticated by its own ``auth`` when it has one — ``hmac_sha256`` (the
header, ``X-Hub-Signature-256`` by default, carries ``sha256=<hex HMAC-SHA256 of the body>``, as
GitHub sends it), ``bearer_token`` (``Authorization: Bearer <secret>``) or ``api_key_header`` (the
header, ``X-API-Key`` by default, is the secret) — whose secret is the job config named by
``secret_config``. A trigger with ``auth`` whose secret is missing refuses every call (fails closed).
Then, with ``.Body`` (the JSON body, or its text), ``.Headers`` and ``.Query`` as template data:
``filter`` must render ``true``; ``params`` are rendered; ``dedup_key`` becomes the request's
``user_key`` (a live request with it is not made again); ``rate_limit {max, window}`` bounds the
requests a trigger makes in a sliding window, kept in ``trigger_states`` (so shared by every queen).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from myrmica.domain.definitions import UPLOAD_FUNCTIONS
from myrmica.domain.errors import DomainError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.domain.records import DefinitionFilter, DefinitionRecord, NewRequest, PageRequest
from myrmica.service.jobs import JobService
from myrmica.service.ports import Audit
from myrmica.service.trigger_rate import TriggerRates
from myrmica.templating.gotemplate import Template, TemplateError

MAX_BODY_BYTES = 1024 * 1024
AUTH_METHODS = ("hmac_sha256", "bearer_token", "api_key_header")
DEFAULT_HEADER = {"hmac_sha256": "X-Hub-Signature-256", "api_key_header": "X-API-Key"}


class AuthenticationFailed(DomainError):
    status = 401


class BodyTooLarge(DomainError):
    status = 413


@dataclass(frozen=True)
class Fired:
    request_id: str  # "" when filtered, rate-limited or a duplicate
    filtered: bool = False
    duplicate: bool = False


class ConfigSecrets(Protocol):
    async def plaintext(self, owner_key: str, job_type: str) -> tuple[dict[str, Any], set[str]]: ...


def sign(secret: str, body: bytes) -> str:
    """What an HMAC-authenticated caller sends in the signature header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def render_template(text: Any, data: Mapping[str, Any]) -> str:
    source = str(text)
    try:
        return Template.parse(source, functions=UPLOAD_FUNCTIONS).execute(data)
    except TemplateError as exc:
        raise DomainError(f"trigger template error: {exc}") from None


def triggers_of(definition: DefinitionRecord) -> list[Any]:
    """The triggers as written: the stored spec lost every line holding a template (Formicary's first,
    static parse), and a trigger's filter and params are templates. A source that is not plain YAML
    (templates around list items) leaves the static ones."""
    try:
        document = yaml.safe_load(definition.raw_source) if definition.raw_format == "yaml" else \
            json.loads(definition.raw_source)
    except (yaml.YAMLError, ValueError):
        document = None
    triggers = document.get("triggers") if isinstance(document, dict) else None
    if isinstance(triggers, list):
        return triggers
    return list(definition.spec.get("triggers") or [])


def _canonical(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class WebhookTriggers:
    def __init__(self, *, jobs: JobService, configs: ConfigSecrets, audit: Audit, admin: Principal,
                 owner_of: Callable[[DefinitionRecord], Awaitable[Principal]], rates: TriggerRates) -> None:
        self._jobs = jobs
        self._configs = configs
        self._audit = audit
        self._admin = admin
        self._owner_of = owner_of
        self._rates = rates

    async def _find(self, job_type: str, name: str) -> tuple[DefinitionRecord, dict[str, Any]]:
        page = await self._jobs.definitions.search(self._admin, DefinitionFilter(job_type=job_type),
                                                   PageRequest(page=0, size=100))
        found = []
        for definition in page.items:
            for trigger in triggers_of(definition):
                if isinstance(trigger, dict) and str(trigger.get("type", "")).lower() == "webhook" and \
                        str(trigger.get("name", "")) == name and not definition.disabled:
                    found.append((definition, trigger))
        if len(found) != 1:  # none, or (across tenants) more than one: neither may be guessed
            raise NotFoundError(f"no webhook trigger {name!r} of job {job_type!r}")
        return found[0]

    async def _authenticate(self, definition: DefinitionRecord, trigger: Mapping[str, Any], body: bytes,
                            headers: Mapping[str, str]) -> None:
        auth = trigger.get("auth")
        if not auth:
            return
        if not isinstance(auth, dict) or str(auth.get("method", "")) not in AUTH_METHODS:
            raise AuthenticationFailed("authentication failed")
        method = str(auth["method"])
        values, _ = await self._configs.plaintext(definition.owner_key, definition.job_type)
        secret = str(values.get(str(auth.get("secret_config", "")), "") or "")
        if not secret:
            raise AuthenticationFailed("authentication failed")
        lowered = {k.lower(): v for k, v in headers.items()}
        if method == "bearer_token":
            given = lowered.get("authorization", "")
            ok = given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), secret.encode())
        else:
            given = lowered.get(str(auth.get("header") or DEFAULT_HEADER[method]).lower(), "")
            if method == "hmac_sha256":
                expected = sign(secret, body)
                given = given if given.startswith("sha256=") else "sha256=" + given
                ok = hmac.compare_digest(given.encode(), expected.encode())
            else:
                ok = bool(given) and hmac.compare_digest(given.encode(), secret.encode())
        if not ok:
            raise AuthenticationFailed("authentication failed")

    async def fire(self, job_type: str, name: str, body: bytes, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> Fired:
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge(f"a trigger's body is at most {MAX_BODY_BYTES} bytes")
        definition, trigger = await self._find(job_type, name)
        await self._authenticate(definition, trigger, body, headers)
        text = body.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text.strip() else {}
        except ValueError:
            parsed = text
        data = {"Body": parsed, "Headers": {**{_canonical(k): v for k, v in headers.items()}, **headers},
                "Query": dict(query)}
        condition = trigger.get("filter")
        if condition not in (None, "") and render_template(condition, data).strip().lower() != "true":
            return Fired("", filtered=True)
        params = {str(k): render_template(v, data) if isinstance(v, str) else v
                  for k, v in (trigger.get("params") or {}).items()}
        user_key = None
        if trigger.get("dedup_key"):
            user_key = f"trigger:{name}:{render_template(trigger['dedup_key'], data).strip()}"[:300]
        if not await self._rates.allow(definition, trigger):
            return Fired("", filtered=True)
        owner = await self._owner_of(definition)
        submitted = await self._jobs.submit(owner, NewRequest(job_type=definition.job_type, params=params,
                                                              user_key=user_key,
                                                              description=f"webhook trigger {name}"))
        if not submitted.created:
            return Fired("", duplicate=True)
        await self._audit.record("JOB_REQUEST_TRIGGERED", owner, target_id=submitted.request.id,
                                      job_type=definition.job_type, message=f"webhook trigger {name}")
        return Fired(submitted.request.id)
