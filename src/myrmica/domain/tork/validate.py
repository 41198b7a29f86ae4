"""Tork's validation of a decoded job (``input/validate.go``: go-playground/validator tags), with its texts.

Every failure is one line ``Key: 'Job.Tasks[0].Retry.Limit' Error:Field validation for 'Limit' failed
on the 'max' tag``, in struct field order (a struct's own checks, such as "a task is parallel or
each", after its fields), joined by newlines — exactly what Tork answers with 400. The rules
(spec/tork.md §2.1, §2.2, §8.1): ``name`` and ``tasks`` (at least one) required, every task and
pre/post task named, ``retry.limit`` 1–10, ``priority`` 0–9, ``var`` at most 64 characters, Go
durations (``timeout``, ``defaults.timeout``, ``autoDelete.after``, ``wait.timeout`` — the last one
required), queues neither ``x-…`` nor a coordinator queue, valid expressions (``output``, ``if``,
``each.list``, webhook ``if``), ``each.concurrency`` 0–99999, mount rules, sidecar probes, webhook
``url``, a permission naming a user or a role (whether it exists is the caller's check:
``permission_exists``), and at most one of ``parallel``/``each``/``subjob`` on a task that then has
none of the fields of a plain task.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from myrmica.domain.cron import parse_cron
from myrmica.domain.tork.decode import BadInput
from myrmica.domain.tork.schema import STRUCTS
from myrmica.templating.expr import is_valid as valid_expression

COORDINATOR_QUEUES = frozenset(
    {"pending", "started", "completed", "error", "heartbeat", "jobs", "logs", "progress", "redeliveries"})
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_MOUNT_PATH = re.compile(r"[-/.0-9a-zA-Z_= ]+")
_COMPOSITE_FORBIDDEN = ("image", "cmd", "entrypoint", "run", "env", "queue", "pre", "post", "mounts", "retry",
                        "limits", "timeout")

PermissionCheck = Callable[[str, str], bool]  # (kind "user" | "role", name) → exists


def is_go_duration(text: str) -> bool:
    """Whether Go's ``time.ParseDuration`` accepts ``text`` (a unit on every number, except a bare 0)."""
    return bool(_GO_DURATION.fullmatch(text))


def is_five_field_cron(text: str) -> bool:
    """A standard 5-field cron expression (minute hour day-of-month month day-of-week) that parses."""
    if len(text.split()) != 5:
        return False
    try:
        parse_cron(text)
    except ValueError:
        return False
    return True


def _go_len(value: Any) -> int:
    return len(value) if isinstance(value, str | list | dict) else 0


class _Validator:
    def __init__(self, permission_exists: PermissionCheck | None) -> None:
        self.errors: list[str] = []
        self.permission_exists = permission_exists

    def report(self, namespace: str, field: str, tag: str) -> None:
        self.errors.append(f"Key: '{namespace}' Error:Field validation for '{field}' failed on the '{tag}' tag")

    def field(self, ns: str, struct: str, key: str, data: dict[str, Any], rules: list[str]) -> bool:
        """Check ``rules`` (in order, stopping at the first failure, as the validator does)."""
        go_name = STRUCTS[struct][key].go_name
        value = data.get(key)
        for rule in rules:
            name, _, param = rule.partition("=")
            if not self._passes(name, param, value, key in data):
                self.report(f"{ns}.{go_name}", go_name, name)
                return False
        return True

    @staticmethod
    def _passes(name: str, param: str, value: Any, present: bool) -> bool:
        if name == "required":
            return bool(value) if not isinstance(value, list | dict) else present
        if name == "min":
            return (value or 0) >= int(param) if isinstance(value or 0, int) else _go_len(value) >= int(param)
        if name == "max":
            return (value or 0) <= int(param) if isinstance(value or 0, int) else _go_len(value) <= int(param)
        if name == "duration":
            return not value or is_go_duration(str(value))
        if name == "queue":
            return not value or not (str(value).startswith("x-") or value in COORDINATOR_QUEUES)
        if name == "expr":
            return not value or valid_expression(str(value))
        if name == "cron":
            return not value or is_five_field_cron(str(value))
        raise AssertionError(name)

    def items(self, ns: str, struct: str, key: str, data: dict[str, Any],
              check: Callable[[str, dict[str, Any]], object]) -> None:
        go_name = STRUCTS[struct][key].go_name
        for index, item in enumerate(data.get(key) or []):
            check(f"{ns}.{go_name}[{index}]", item if isinstance(item, dict) else {})

    def nested(self, ns: str, struct: str, key: str, data: dict[str, Any],
               check: Callable[[str, dict[str, Any]], object]) -> None:
        if isinstance(data.get(key), dict):
            check(f"{ns}.{STRUCTS[struct][key].go_name}", data[key])

    # --- structs --------------------------------------------------------------------------------

    def job(self, ns: str, job: dict[str, Any]) -> None:
        self.field(ns, "Job", "name", job, ["required"])
        if self.field(ns, "Job", "tasks", job, ["required", "min=1"]):
            self.items(ns, "Job", "tasks", job, self.task)
        self.field(ns, "Job", "output", job, ["expr"])
        self.nested(ns, "Job", "defaults", job, self.defaults)
        self.items(ns, "Job", "webhooks", job, self.webhook)
        self.items(ns, "Job", "permissions", job, self.permission)
        self.nested(ns, "Job", "autoDelete", job, lambda n, d: self.field(n, "AutoDelete", "after", d, ["duration"]))
        self.nested(ns, "Job", "wait", job, lambda n, d: self.field(n, "Wait", "timeout", d, ["required", "duration"]))

    def task(self, ns: str, task: dict[str, Any]) -> None:
        self.field(ns, "Task", "name", task, ["required"])
        self.field(ns, "Task", "queue", task, ["queue"])
        self.items(ns, "Task", "pre", task, lambda n, d: self.aux(n, "AuxTask", d))
        self.items(ns, "Task", "post", task, lambda n, d: self.aux(n, "AuxTask", d))
        self.items(ns, "Task", "sidecars", task, lambda n, d: self.aux(n, "SidecarTask", d))
        self.items(ns, "Task", "mounts", task, self.mount)
        self.nested(ns, "Task", "retry", task, self.retry)
        self.field(ns, "Task", "timeout", task, ["duration"])
        self.field(ns, "Task", "var", task, ["max=64"])
        self.field(ns, "Task", "if", task, ["expr"])
        self.nested(ns, "Task", "parallel", task, self.parallel)
        self.nested(ns, "Task", "each", task, self.each)
        self.nested(ns, "Task", "subjob", task, self.subjob)
        self.field(ns, "Task", "workdir", task, ["max=256"])
        self.field(ns, "Task", "priority", task, ["min=0", "max=9"])
        self.task_kind(ns, task)

    def task_kind(self, ns: str, task: dict[str, Any]) -> None:
        kinds = [kind for kind in ("parallel", "each", "subjob") if kind in task]
        pairs = {("parallel", "each"): (("each", "paralleloreach"), ("parallel", "paralleloreach")),
                 ("parallel", "subjob"): (("subjob", "parallelorsubjob"), ("parallel", "parallelorsubjob")),
                 ("each", "subjob"): (("subjob", "eachorsubjob"), ("each", "eachorsubjob"))}
        for pair, reports in pairs.items():
            if pair[0] in kinds and pair[1] in kinds:
                for field, tag in reports:
                    self.report(f"{ns}.{field}", field, tag)
        if not kinds:
            return
        for field in _COMPOSITE_FORBIDDEN:
            if field in task and (field in ("retry", "limits") or task[field]):
                self.report(f"{ns}.{field}", field, "invalidcompositetask")

    def aux(self, ns: str, struct: str, aux: dict[str, Any]) -> None:
        self.field(ns, struct, "name", aux, ["required"])
        if struct == "SidecarTask":
            self.nested(ns, struct, "probe", aux, self.probe)

    def probe(self, ns: str, probe: dict[str, Any]) -> None:
        self.field(ns, "Probe", "path", probe, ["required", "max=256"])
        self.field(ns, "Probe", "port", probe, ["required", "min=1", "max=65535"])
        self.field(ns, "Probe", "timeout", probe, ["duration"])

    def mount(self, ns: str, mount: dict[str, Any]) -> None:
        kind, source, target = mount.get("type", ""), mount.get("source", ""), mount.get("target", "")
        tag = ""
        if not kind:
            tag = "typerequired"
        elif kind == "volume" and source:
            tag = "sourcenotempty"
        elif kind == "volume" and not target:
            tag = "targetrequired"
        elif kind == "bind" and not source:
            tag = "sourcerequired"
        elif source and not _MOUNT_PATH.fullmatch(source):
            tag = "invalidsource"
        elif (target and not _MOUNT_PATH.fullmatch(target)) or target == "/tork":
            tag = "invalidtarget"
        if tag:
            self.report(f"{ns}.mount", "mount", tag)

    def retry(self, ns: str, retry: dict[str, Any]) -> None:
        self.field(ns, "Retry", "limit", retry, ["required", "min=1", "max=10"])

    def parallel(self, ns: str, parallel: dict[str, Any]) -> None:
        if self.field(ns, "Parallel", "tasks", parallel, ["required", "min=1"]):
            self.items(ns, "Parallel", "tasks", parallel, self.task)

    def each(self, ns: str, each: dict[str, Any]) -> None:
        self.field(ns, "Each", "list", each, ["required", "expr"])
        self.task(f"{ns}.Task", each.get("task") or {})
        self.field(ns, "Each", "concurrency", each, ["min=0", "max=99999"])

    def subjob(self, ns: str, subjob: dict[str, Any]) -> None:
        self.field(ns, "SubJob", "name", subjob, ["required"])
        if self.field(ns, "SubJob", "tasks", subjob, ["required"]):
            self.items(ns, "SubJob", "tasks", subjob, self.task)
        self.nested(ns, "SubJob", "autoDelete", subjob,
                    lambda n, d: self.field(n, "AutoDelete", "after", d, ["duration"]))
        self.field(ns, "SubJob", "output", subjob, ["expr"])
        self.items(ns, "SubJob", "webhooks", subjob, self.webhook)

    def defaults(self, ns: str, defaults: dict[str, Any]) -> None:
        self.nested(ns, "Defaults", "retry", defaults, self.retry)
        self.field(ns, "Defaults", "timeout", defaults, ["duration"])
        self.field(ns, "Defaults", "queue", defaults, ["queue"])
        self.field(ns, "Defaults", "priority", defaults, ["min=0", "max=9"])

    def webhook(self, ns: str, webhook: dict[str, Any]) -> None:
        self.field(ns, "Webhook", "url", webhook, ["required"])
        self.field(ns, "Webhook", "if", webhook, ["expr"])

    def permission(self, ns: str, permission: dict[str, Any]) -> None:
        user, role = permission.get("user", ""), permission.get("role", "")
        if bool(user) == bool(role):
            self.report(f"{ns}.perm", "perm", "roleoruser")
        if self.permission_exists is not None:
            if user and not self.permission_exists("user", user):
                self.report(f"{ns}.perm", "perm", "invalidusername")
            if role and not self.permission_exists("role", role):
                self.report(f"{ns}.perm", "perm", "invalidrole")


def validation_errors(job: dict[str, Any], *, root: str = "Job",
                      permission_exists: PermissionCheck | None = None) -> list[str]:
    validator = _Validator(permission_exists)
    validator.job(root, job)
    return validator.errors


def validate_job(job: dict[str, Any], *, permission_exists: PermissionCheck | None = None) -> None:
    """BadInput (400) with Tork's message when the decoded job breaks one of Tork's rules."""
    errors = validation_errors(job, permission_exists=permission_exists)
    if errors:
        raise BadInput("\n".join(errors))


def scheduled_job_errors(job: dict[str, Any], *, permission_exists: PermissionCheck | None = None) -> list[str]:
    """``POST /scheduled-jobs``: the job's rules under ``ScheduledJob``, then its required 5-field cron."""
    validator = _Validator(permission_exists)
    validator.job("ScheduledJob", job)
    schedule = job.get("schedule")
    if not isinstance(schedule, dict):
        validator.report("ScheduledJob.Schedule", "Schedule", "required")
    else:
        validator.field("ScheduledJob.Schedule", "Schedule", "cron", schedule, ["required", "cron"])
    return validator.errors


def validate_scheduled_job(job: dict[str, Any], *, permission_exists: PermissionCheck | None = None) -> None:
    errors = scheduled_job_errors(job, permission_exists=permission_exists)
    if errors:
        raise BadInput("\n".join(errors))
