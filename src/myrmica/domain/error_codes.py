"""The admin's error-code catalogue (``/api/errors``, spec §1.6): a failed task's message, failed
command and exit code are matched against its rows, scoped by job type, task type and platform; a
match replaces the task's error code and decides what happens next by its ``action``:

* ``RETRY_TASK``: the task is retried up to the row's ``retry`` (beyond its own ``retry``);
* ``RETRY_JOB``: the job is retried up to the row's ``retry`` (beyond the job's ``retry``);
* ``HARD_FAILURE`` (or ``hard_failure: true``): no more retries of the task nor of the job;
* ``SUSPEND_JOB``: the job pauses (``ERR_PAUSE_JOB``) and resumes after its pause time.

The most specific row wins: one naming the job type, then the task type, then the platform, then
a command, before a catch-all; among equals the oldest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ACTIONS = ("RETRY_TASK", "RETRY_JOB", "HARD_FAILURE", "SUSPEND_JOB")
MAX_REGEX = 500


@dataclass(frozen=True)
class ErrorRule:
    id: str
    error_code: str
    regex: str = ""
    exit_code: int | None = None
    command_scope: str = ""
    platform_scope: str = ""
    task_type_scope: str = ""
    job_type: str = ""
    action: str = ""
    retry: int = 0
    hard_failure: bool = False
    display_message: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ErrorRule:
        return cls(id=str(row["id"]), error_code=str(row["error_code"]), regex=str(row.get("regex") or ""),
                   exit_code=row.get("exit_code"), command_scope=str(row.get("command_scope") or ""),
                   platform_scope=str(row.get("platform_scope") or ""),
                   task_type_scope=str(row.get("task_type_scope") or ""), job_type=str(row.get("job_type") or ""),
                   action=str(row.get("action") or ""), retry=int(row.get("retry") or 0),
                   hard_failure=bool(row.get("hard_failure")),
                   display_message=str(row.get("display_message") or ""))

    @property
    def hard(self) -> bool:
        return self.hard_failure or self.action == "HARD_FAILURE"

    def specificity(self) -> tuple[bool, bool, bool, bool]:
        return (bool(self.job_type), bool(self.task_type_scope), bool(self.platform_scope), bool(self.command_scope))

    def matches(self, *, job_type: str, task_type: str, platform: str, exit_code: str, message: str,
                failed_command: str) -> bool:
        if self.job_type and self.job_type != job_type:
            return False
        if self.task_type_scope and self.task_type_scope != task_type:
            return False
        if self.platform_scope and self.platform_scope.lower() != platform.lower():
            return False
        if self.command_scope and self.command_scope not in failed_command:
            return False
        if self.exit_code is not None and str(self.exit_code) != exit_code:
            return False
        if self.regex:
            try:
                pattern = re.compile(self.regex)
            except re.error:
                return False
            if not (pattern.search(message) or pattern.search(failed_command)):
                return False
        return bool(self.regex) or self.exit_code is not None or bool(self.command_scope)


def check_regex(regex: str) -> str | None:
    """Why ``regex`` cannot be a rule's pattern (None when it can)."""
    if len(regex) > MAX_REGEX:
        return f"a regex has at most {MAX_REGEX} characters"
    try:
        re.compile(regex)
    except re.error as exc:
        return f"not a regular expression: {exc}"
    return None


def match_rule(rules: Iterable[ErrorRule], *, job_type: str, task_type: str, platform: str, exit_code: str,
               message: str, failed_command: str) -> ErrorRule | None:
    """The most specific rule matching a failure (None when none does)."""
    best: ErrorRule | None = None
    for rule in rules:
        if not rule.matches(job_type=job_type, task_type=task_type, platform=platform, exit_code=exit_code,
                            message=message, failed_command=failed_command):
            continue
        if best is None or rule.specificity() > best.specificity():
            best = rule
    return best
