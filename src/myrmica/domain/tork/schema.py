"""The keys ``POST /jobs`` accepts (spec/tork.md §2.1, §2.2): Tork's Go input structs, as data.

Each struct is an ordered map of its wire key (camelCase, as both Tork's YAML and JSON tags spell it)
to a :class:`Field`: the Go field name (validation messages quote it: ``Job.Tasks[0].Retry.Limit``)
and the Go type, written as Go prints it (``string``, ``int``, ``bool``, ``[]string``,
``map[string]string``, ``[]input.Task``, ``*input.Retry``). The order is the structs' field order,
which is the order Tork's validator reports errors in. The decoder (:mod:`.decode`) reads a body
against these structs and refuses any other key, as Tork's strict decoders do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    go_name: str
    go_type: str

    @property
    def struct(self) -> str | None:
        """The struct this field holds (or holds a list of), without ``input.``; None for scalars and maps."""
        name = self.go_type.removeprefix("[]").removeprefix("*")
        return name.removeprefix("input.") if name.startswith("input.") else None

    @property
    def is_list(self) -> bool:
        return self.go_type.startswith("[]")


def _fields(*items: tuple[str, str, str]) -> dict[str, Field]:
    return {key: Field(go_name, go_type) for key, go_name, go_type in items}


_AUX = (
    ("name", "Name", "string"),
    ("description", "Description", "string"),
    ("cmd", "CMD", "[]string"),
    ("entrypoint", "Entrypoint", "[]string"),
    ("run", "Run", "string"),
    ("image", "Image", "string"),
    ("registry", "Registry", "*input.Registry"),
    ("env", "Env", "map[string]string"),
    ("files", "Files", "map[string]string"),
    ("timeout", "Timeout", "string"),
)

_JOB_KEYS = (
    ("name", "Name", "string"),
    ("description", "Description", "string"),
    ("tags", "Tags", "[]string"),
    ("tasks", "Tasks", "[]input.Task"),
    ("inputs", "Inputs", "map[string]string"),
    ("secrets", "Secrets", "map[string]string"),
    ("output", "Output", "string"),
    ("defaults", "Defaults", "*input.Defaults"),
    ("webhooks", "Webhooks", "[]input.Webhook"),
    ("permissions", "Permissions", "[]input.Permission"),
    ("autoDelete", "AutoDelete", "*input.AutoDelete"),
)

STRUCTS: dict[str, dict[str, Field]] = {
    "Job": _fields(*_JOB_KEYS, ("wait", "Wait", "*input.Wait")),
    # POST /scheduled-jobs: the Job's keys without ``wait``, plus the required ``schedule``.
    "ScheduledJob": _fields(*_JOB_KEYS, ("schedule", "Schedule", "*input.Schedule")),
    "Schedule": _fields(("cron", "Cron", "string")),
    "Task": _fields(
        ("name", "Name", "string"),
        ("description", "Description", "string"),
        ("cmd", "CMD", "[]string"),
        ("entrypoint", "Entrypoint", "[]string"),
        ("run", "Run", "string"),
        ("image", "Image", "string"),
        ("registry", "Registry", "*input.Registry"),
        ("env", "Env", "map[string]string"),
        ("files", "Files", "map[string]string"),
        ("queue", "Queue", "string"),
        ("pre", "Pre", "[]input.AuxTask"),
        ("post", "Post", "[]input.AuxTask"),
        ("sidecars", "Sidecars", "[]input.SidecarTask"),
        ("mounts", "Mounts", "[]input.Mount"),
        ("networks", "Networks", "[]string"),
        ("retry", "Retry", "*input.Retry"),
        ("limits", "Limits", "*input.Limits"),
        ("timeout", "Timeout", "string"),
        ("var", "Var", "string"),
        ("if", "If", "string"),
        ("parallel", "Parallel", "*input.Parallel"),
        ("each", "Each", "*input.Each"),
        ("subjob", "SubJob", "*input.SubJob"),
        ("gpus", "GPUs", "string"),
        ("tags", "Tags", "[]string"),
        ("workdir", "Workdir", "string"),
        ("priority", "Priority", "int"),
    ),
    "AuxTask": _fields(*_AUX),
    "SidecarTask": _fields(*_AUX, ("probe", "Probe", "*input.Probe")),
    "Probe": _fields(("path", "Path", "string"), ("port", "Port", "int"), ("timeout", "Timeout", "string")),
    "Mount": _fields(("type", "Type", "string"), ("source", "Source", "string"), ("target", "Target", "string"),
                     ("opts", "Opts", "map[string]string")),
    "Registry": _fields(("username", "Username", "string"), ("password", "Password", "string")),
    "Retry": _fields(("limit", "Limit", "int")),
    "Limits": _fields(("cpus", "CPUs", "string"), ("memory", "Memory", "string")),
    "Parallel": _fields(("tasks", "Tasks", "[]input.Task")),
    "Each": _fields(("var", "Var", "string"), ("list", "List", "string"), ("task", "Task", "input.Task"),
                    ("concurrency", "Concurrency", "int")),
    "SubJob": _fields(
        ("name", "Name", "string"),
        ("description", "Description", "string"),
        ("tasks", "Tasks", "[]input.Task"),
        ("inputs", "Inputs", "map[string]string"),
        ("secrets", "Secrets", "map[string]string"),
        ("autoDelete", "AutoDelete", "*input.AutoDelete"),
        ("output", "Output", "string"),
        ("detached", "Detached", "bool"),
        ("webhooks", "Webhooks", "[]input.Webhook"),
    ),
    "Defaults": _fields(("retry", "Retry", "*input.Retry"), ("limits", "Limits", "*input.Limits"),
                        ("timeout", "Timeout", "string"), ("queue", "Queue", "string"),
                        ("priority", "Priority", "int")),
    "Webhook": _fields(("url", "URL", "string"), ("headers", "Headers", "map[string]string"),
                       ("event", "Event", "string"), ("if", "If", "string")),
    "Permission": _fields(("role", "Role", "string"), ("user", "User", "string")),
    "AutoDelete": _fields(("after", "After", "string")),
    "Wait": _fields(("timeout", "Timeout", "string")),
}
