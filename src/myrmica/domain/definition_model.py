"""The job-definition model (spec/formicary.md §2.1–2.2): every job- and task-level key, typed."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from myrmica.domain.durations import parse_duration
from myrmica.domain.methods import TaskMethod
from myrmica.domain.numbers import INT32_MAX, has_control


def _duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError("a duration must not be negative")
    return seconds


def _name(value: Any) -> Any:
    if isinstance(value, str) and has_control(value):
        raise ValueError("must not contain control characters")
    return value


def _name_values(value: Any) -> dict[str, Any]:
    """Variables come as a map or as a list of ``{name, value}``."""
    if value is None:
        return {}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, dict) or "name" not in item:
                raise ValueError("each variable in a list must be a mapping with name and value")
            out[str(item["name"])] = item.get("value")
        return out
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    raise ValueError("expected a mapping or a list of {name, value}")


def _string_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return ["" if item is None else str(item) for item in value]
    raise ValueError("expected a list of strings")


def _script(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):  # `- echo key: value` unquoted is YAML's map {"echo key": "value"}
                shown = ", ".join(f"{k}: {v}" for k, v in item.items())[:100]
                raise ValueError(f"line {index + 1} parses as a map ({shown!r}), not a command: quote the line")
            if isinstance(item, list):
                raise ValueError(f"line {index + 1} parses as a list, not a command: quote the line")
        return [_optional_text(item) for item in value if item is not None]
    raise ValueError("expected a list of commands")


def _optional_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _duration_text(seconds: float) -> str:
    """Stored specs keep durations as Go-style text, so reading them back gives the same seconds."""
    return (f"{seconds:.9f}".rstrip("0").rstrip(".") or "0") + "s"


Name = Annotated[str, BeforeValidator(_name)]  # job and task types: shown, logged and used in paths
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_FILES = 100

Count = Annotated[int, Field(ge=0, le=INT32_MAX)]  # stored in 32-bit columns on PostgreSQL
Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(_duration_text, return_type=str,
                                                                        when_used="json")]
Variables = Annotated[dict[str, Any], BeforeValidator(_name_values)]
StringList = Annotated[list[str], BeforeValidator(_string_list)]
Script = Annotated[list[str], BeforeValidator(_script)]
Text = Annotated[str, BeforeValidator(_optional_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, value: Any) -> Any:
        """A key left empty (often by a removed template line) means its default."""
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is not None}
        return value


class BackoffPolicy(_Model):
    min: Duration = 0.0
    max: Duration = 0.0
    factor: float = 2.0
    jitter: bool = False


class NameValue(_Model):
    name: str
    value: Any = None


class SubWorkflow(_Model):
    input_params: list[NameValue] = Field(default_factory=list)
    output_variables: list[NameValue] = Field(default_factory=list)
    wait_for_completion: bool = False


class FanOut(_Model):
    """One child per item of a list, at most ``max_parallel`` at a time (0: all at once).

    The list is the variable, param or output named ``source``, or the value of ``items``: an
    expression of the definition's template language (Go templates: text that must render a JSON
    array; Tork: an expr-lang expression), evaluated when the fan-out starts. Each item runs
    ``task`` (any task, a composite too) when it is given, else this task's own method and script.
    """

    source: str = ""
    items: Text = ""
    item_var: str = "item"
    max_parallel: Count = 0
    fail_fast: bool = False
    fork_job_type: str = ""
    fork_job_version: str = ""
    execution_method: str = ""
    task: TaskDefinition | None = None


class ChildJob(_Model):
    """A job defined inline that a FORK_JOB task runs as a child request of its own (Tork's ``subjob``).

    ``definition`` is the child's definition document (a job definition, validated with the parent);
    it is saved as a definition of the parent's owner when the fork happens (the same document again
    reuses that definition). ``params`` and ``secret_params`` are the child request's; their values are
    rendered with the parent's template language at the fork. ``detached``: the fork does not wait, and
    cancelling the parent leaves the child running.
    """

    definition: dict[str, Any]
    dialect: str = "formicary"
    dialect_settings: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    secret_params: dict[str, Any] = Field(default_factory=dict)
    detached: bool = False


class ApprovalPolicy(_Model):
    min_approvals: int = Field(default=1, ge=1, le=INT32_MAX)
    allowed_roles: StringList = Field(default_factory=list)
    allowed_users: StringList = Field(default_factory=list)
    require_unanimous: bool = False
    sla_deadline: Duration = 0.0
    timeout_action: str = "ESCALATE"
    escalation_recipients: StringList = Field(default_factory=list)
    escalation_message: str = ""

    @field_validator("timeout_action")
    @classmethod
    def _action(cls, value: str) -> str:
        value = value.upper()
        if value not in ("AUTO_APPROVE", "AUTO_REJECT", "ESCALATE"):
            raise ValueError("must be AUTO_APPROVE, AUTO_REJECT or ESCALATE")
        return value


class ArtifactsSpec(_Model):
    paths: StringList = Field(default_factory=list)
    when: str = "always"
    expires_after: Duration = 0.0


class CacheSpec(_Model):
    paths: StringList = Field(default_factory=list)
    key: str = ""
    key_paths: StringList = Field(default_factory=list)
    expires_after: Duration = 0.0


class WebhookSpec(_Model):
    url: Text = ""
    headers: dict[str, Any] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)


class EndpointSpec(_Model):
    """An HTTP_ENDPOINT task's call (Strait's execution mode ``http``, usable from any dialect): the
    request param ``payload_param`` is POSTed as JSON to the task's ``url``; on a transient failure
    (timeout, no connection, 429, 5xx) the same call goes to ``fallback_url`` within the attempt's
    deadline. Retries (the task's ``retry``) wait by ``retry_strategy`` (domain/retry.py)."""

    fallback_url: Text = ""
    payload_param: str = "payload"
    job_id: Text = ""  # sent as X-Job-ID; default the job type
    retry_strategy: str = "exponential"
    retry_delays_secs: list[float] = Field(default_factory=list)

    @field_validator("retry_strategy", mode="after")
    @classmethod
    def _strategy(cls, value: str) -> str:
        value = value.strip().lower() or "exponential"
        if value not in ("exponential", "linear", "fixed", "custom"):
            raise ValueError("must be exponential, linear, fixed, or custom")
        return value

    @field_validator("retry_delays_secs", mode="after")
    @classmethod
    def _delays(cls, value: list[float]) -> list[float]:
        if any(delay <= 0 for delay in value):
            raise ValueError("retry delays must be positive")
        return value


class NotifyTarget(_Model):
    recipients: StringList = Field(default_factory=list)
    when: str = "always"


class TaskDefinition(_Model):
    task_type: Name = Field(min_length=1, max_length=100)
    method: TaskMethod = TaskMethod.KUBERNETES
    description: Text = Field(default="", max_length=500)
    script: Script = Field(default_factory=list)
    before_script: Script = Field(default_factory=list)
    after_script: Script = Field(default_factory=list)
    on_completed: Text = ""
    on_failed: Text = ""
    on_exit_code: dict[str, Text] = Field(default_factory=dict)
    allow_failure: bool = False
    always_run: bool = False
    allow_start_if_completed: bool = False
    retry: Count = 0
    delay_between_retries: Duration = 0.0
    retry_backoff_policy: BackoffPolicy | None = None
    timeout: Duration = 0.0
    variables: Variables = Field(default_factory=dict)
    environment: Variables = Field(default_factory=dict)
    helper_environment: Variables = Field(default_factory=dict)
    dependencies: StringList = Field(default_factory=list)
    artifact_ids: StringList = Field(default_factory=list)
    artifacts: ArtifactsSpec | None = None
    cache: CacheSpec | None = None
    tags: StringList = Field(default_factory=list)
    except_: Text = Field(default="", alias="except")
    headers: dict[str, Any] = Field(default_factory=dict)
    url: Text = ""
    query: dict[str, Any] = Field(default_factory=dict)
    report_stdout: bool = False
    job_version: Text = ""
    fork_job_type: Text = ""
    fork_job_version: Text = ""
    await_forked_tasks: StringList = Field(default_factory=list)
    sub_workflow: SubWorkflow | None = None
    fan_out: FanOut | None = None
    # A parallel group: these tasks run at once (bounded), and this one ends when all of them ended.
    parallel: list[TaskDefinition] = Field(default_factory=list)
    child_job: ChildJob | None = None
    # Run before and after this task's script on the same ant, each in a directory of its own; a failure
    # of one fails the task, and the task's timeout covers them all (Tork's ``pre``/``post``).
    pre: list[TaskDefinition] = Field(default_factory=list)
    post: list[TaskDefinition] = Field(default_factory=list)
    messaging_request_queue: Text = ""
    messaging_reply_queue: Text = ""
    approval_policy: ApprovalPolicy | None = None
    webhook: WebhookSpec | None = None
    endpoint: EndpointSpec | None = None  # HTTP_ENDPOINT: fallback, payload, retry strategy
    resources: Any = None
    working_dir: Text = ""
    artifacts_dir: Text = ""
    cache_dir: Text = ""
    artifact_key_prefix: Text = ""
    container: dict[str, Any] | None = None
    helper: dict[str, Any] | None = None
    services: list[dict[str, Any]] = Field(default_factory=list)
    privileged: bool = False
    host_network: Text = ""
    network_mode: Text = ""
    node_selector: dict[str, Any] = Field(default_factory=dict)
    node_tolerations: Any = None
    affinity: Any = None
    pod_labels: dict[str, Any] = Field(default_factory=dict)
    pod_annotations: dict[str, Any] = Field(default_factory=dict)
    cost_factor: float = 0.0
    execute_command_without_shell: bool = False
    debug: bool = False
    # A task's result and files (SHELL; the Tork dialect's $TORK_OUTPUT, ``var``, ``if`` and ``files``).
    output_file_env: Text = ""  # an env var naming a fresh file: what the task writes there is its result
    result_var: Text = ""  # a non-empty result is kept under this name (``tasks.<name>`` in expr templates)
    run_if: Text = ""  # rendered when the task is created: exactly ``false`` (trimmed) skips it
    files: dict[str, Text] = Field(default_factory=dict)  # written read-only into the working directory
    # An ant tag chosen when the task is created (Tork's templated ``queue``): an expr template, rendered
    # with the task and then added to ``tags`` (lower-cased; empty or ``default`` adds none).
    queue: Text = ""

    @field_validator("output_file_env", mode="after")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if value and not _ENV_NAME.fullmatch(value):
            raise ValueError("must be an environment variable name (letters, digits, _)")
        return value

    @field_validator("files", mode="after")
    @classmethod
    def _file_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            parts = name.split("/")
            if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\x00" in name:
                raise ValueError(f"file name {name!r} must be a relative path without '.' or '..' parts")
        if len(value) > MAX_FILES:
            raise ValueError(f"at most {MAX_FILES} files")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        if value is None or value == "":
            return TaskMethod.KUBERNETES
        return str(value).upper()

    @field_validator("on_exit_code", mode="before")
    @classmethod
    def _exit_codes(cls, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of exit code or state to task or action")
        return {str(k).strip().upper(): _optional_text(v).strip() for k, v in value.items()}

    @field_validator("tags", mode="after")
    @classmethod
    def _lower_tags(cls, value: list[str]) -> list[str]:
        return [tag.strip().lower() for tag in value if tag.strip()]

    @model_validator(mode="after")
    def _fold_edges(self) -> TaskDefinition:
        if self.on_completed and "COMPLETED" not in self.on_exit_code:
            self.on_exit_code["COMPLETED"] = self.on_completed.strip()
        if self.on_failed and "FAILED" not in self.on_exit_code:
            self.on_exit_code["FAILED"] = self.on_failed.strip()
        if self.allow_failure and "COMPLETED" in self.on_exit_code and "FAILED" not in self.on_exit_code:
            self.on_exit_code["FAILED"] = self.on_exit_code["COMPLETED"]
        if self.fan_out is not None and self.method != TaskMethod.FAN_OUT_JOB:
            self.fan_out.execution_method = self.method.value
        return self

    @property
    def execution_method(self) -> TaskMethod:
        """The method that really runs the work (a fan-out runs its items with the original method)."""
        if self.fan_out is not None and self.fan_out.execution_method:
            return TaskMethod(self.fan_out.execution_method)
        return self.method

    def targets(self) -> list[str]:
        return [t for t in self.on_exit_code.values()]


FanOut.model_rebuild()


class JobDefinitionSpec(_Model):
    job_type: Name = Field(min_length=1, max_length=100)
    description: Text = ""  # at most 500 characters in a native upload (definitions.parse_definition)
    tasks: list[TaskDefinition] = Field(min_length=1, max_length=100)
    job_variables: Variables = Field(default_factory=dict)
    max_concurrency: Count = 0
    # At most this many requests of this definition sharing a non-empty ``job_group`` run at once (0: no limit);
    # counted over every definition's requests in that group (Strait's max_concurrency_per_key).
    group_concurrency: Count = 0
    cron_trigger: Text = ""
    timeout: Duration = 0.0
    retry: Count = 0
    delay_between_retries: Duration = 0.0
    retry_backoff_policy: BackoffPolicy | None = None
    hard_reset_after_retries: Count = 0
    pause_time: Duration = 0.0
    skip_if: Text = ""
    required_params: StringList = Field(default_factory=list)
    platform: Text = Field(default="", max_length=100)
    tags: Text = ""
    methods: Text = ""
    public_plugin: bool = False
    sem_version: Text = ""
    dynamic_template_tasks: bool = False
    notify: dict[str, Any] = Field(default_factory=dict)
    webhook: WebhookSpec | None = None
    resources: Any = None
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    # A request that COMPLETED is deleted, with its runs and logs, this long after it ended (0: kept).
    delete_after: Duration = 0.0
    retention_days_for_completed: Count = 0
    retention_days_for_failed: Count = 0
    retention_days_for_cancelled: Count = 0
    url: Text = Field(default="", max_length=200)
    disabled: bool = False
    # The template language of the tasks: ``go`` (Formicary's: the whole definition's text is rendered
    # with text/template before each task) or ``expr`` (expr-lang: only each task's environment values,
    # ``result_var`` and ``run_if`` are rendered, against inputs, secrets, tasks and job; scripts never).
    templates: Literal["go", "expr"] = "go"
    output: Text = ""  # with expr templates: the job's result, rendered when it completes

    def task(self, task_type: str) -> TaskDefinition | None:
        for task in self.tasks:
            if task.task_type == task_type:
                return task
        return None

    def aggregated_tags(self) -> list[str]:
        return sorted({tag for task in self.tasks for tag in task.tags})

    def aggregated_methods(self) -> list[str]:
        return sorted({task.method.value for task in self.tasks})
