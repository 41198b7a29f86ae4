"""Task methods and the exit-code action names a task edge may target."""

from __future__ import annotations

from enum import StrEnum


class TaskMethod(StrEnum):
    SHELL = "SHELL"
    DOCKER = "DOCKER"
    KUBERNETES = "KUBERNETES"
    HTTP_GET = "HTTP_GET"
    HTTP_POST_FORM = "HTTP_POST_FORM"
    HTTP_POST_JSON = "HTTP_POST_JSON"
    HTTP_PUT_FORM = "HTTP_PUT_FORM"
    HTTP_PUT_JSON = "HTTP_PUT_JSON"
    HTTP_DELETE = "HTTP_DELETE"
    HTTP_ENDPOINT = "HTTP_ENDPOINT"  # POST a request's payload to an endpoint; its answer is the result
    WEBSOCKET = "WEBSOCKET"
    MESSAGING = "MESSAGING"
    FORK_JOB = "FORK_JOB"
    AWAIT_FORKED_JOB = "AWAIT_FORKED_JOB"
    FAN_OUT_JOB = "FAN_OUT_JOB"
    EXPIRE_ARTIFACTS = "EXPIRE_ARTIFACTS"
    MANUAL = "MANUAL"


HTTP_METHODS = frozenset(m for m in TaskMethod if m.startswith("HTTP_"))
# Methods the queen runs itself; they need no ant.
QUEEN_METHODS = frozenset(
    {TaskMethod.FORK_JOB, TaskMethod.AWAIT_FORKED_JOB, TaskMethod.FAN_OUT_JOB, TaskMethod.MANUAL,
     TaskMethod.EXPIRE_ARTIFACTS}
)

# Targets in on_exit_code that are actions, not task names (plus any ERR_* code).
EXIT_ACTIONS = frozenset(
    {"FATAL", "FAILED", "COMPLETED", "EXECUTING", "RESTART_TASK", "RESTART_JOB", "PAUSE_JOB", "PAUSED",
     "WAIT_FOR_APPROVAL"}
)


def is_action(target: str) -> bool:
    return target in EXIT_ACTIONS or target.startswith("ERR_")
