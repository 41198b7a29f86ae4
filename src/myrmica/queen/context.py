"""What a running request's supervisor knows: its request, definition, execution and variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.error_codes import ErrorRule
from myrmica.domain.masking import secret_terms

# A queen holds each request it runs by a lease it renews every housekeeping pass; one that stops
# renewing for this long (it died) has its requests adopted by another.
LEASE_SECONDS = 15.0
# In a job's context: the results its tasks kept by ``result_var`` (``tasks.<name>`` in expr templates).
RESULTS = "tasks"


@dataclass
class RunContext:
    request: dict[str, Any]
    definition: dict[str, Any]
    spec: JobDefinitionSpec
    execution_id: str
    contexts: dict[str, Any]  # the job execution's context: outputs of earlier tasks
    params: dict[str, Any]  # request params, secrets decrypted
    secrets: list[str]  # values to mask
    configs: dict[str, Any]  # job configs (and org/user configs), decrypted
    started: datetime
    job_retry: int = 0
    task_order: int = 0
    reused: dict[str, dict[str, Any]] = field(default_factory=dict)  # task type → row done before this run
    lost: dict[str, dict[str, Any]] = field(default_factory=dict)  # task type → row cut off by a crash
    counts: dict[str, int] = field(default_factory=dict)  # CountByJobTypeAndState answers, at start
    new_execution: dict[str, Any] | None = None  # the execution row to create when this run begins
    # Spec §1.9's lower layers, decrypted: system configs, then the owner organisation's configs.
    system_configs: dict[str, Any] = field(default_factory=dict)
    org_configs: dict[str, Any] = field(default_factory=dict)
    error_rules: list[ErrorRule] = field(default_factory=list)  # the admin's error-code catalogue
    job_retry_limit: int | None = None  # raised by a RETRY_JOB error code; 0 after a HARD_FAILURE one

    @property
    def job_retries(self) -> int:
        """How many times the job may be retried now: its ``retry``, or what an error code decided."""
        return self.spec.retry if self.job_retry_limit is None else self.job_retry_limit

    def hide_secrets(self, text: str) -> str:
        """``text`` (an error message) with each secret value replaced by its variable's name."""
        if not self.secrets:
            return text
        secret = set(self.secrets)
        known = {**self.system_configs, **self.org_configs, **self.configs, **self.params}
        names = {str(v): k for k, v in known.items() if str(v) in secret}
        for value in secret_terms(self.secrets):  # longest first; the lines of a multi-line one too
            if value in text:
                text = text.replace(value, f"[secret {names[value]}]" if value in names else "[****]")
        return text

    @property
    def request_id(self) -> str:
        return str(self.request["id"])

    @property
    def job_type(self) -> str:
        return str(self.request["job_type"])
