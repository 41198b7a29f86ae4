"""Unknown definition keys are refused with the nearest known one; Formicary's documented keys are accepted."""

from __future__ import annotations

from typing import Any

import pytest

from myrmica.domain.definition_keys import UNSUPPORTED_JOB_KEYS, UNSUPPORTED_TASK_KEYS, check_keys, known_keys
from myrmica.domain.definition_model import JobDefinitionSpec, TaskDefinition
from myrmica.domain.definitions import parse_definition
from myrmica.domain.errors import ValidationError

# Every key of Formicary's definition-keys tables (spec/formicary.md §2.1 job level, §2.2 task level).
FORMICARY_JOB_KEYS = [
    "job_type", "description", "tasks", "job_variables", "max_concurrency", "cron_trigger", "timeout", "retry",
    "delay_between_retries", "retry_backoff_policy", "hard_reset_after_retries", "pause_time", "skip_if",
    "required_params", "platform", "tags", "methods", "public_plugin", "sem_version", "dynamic_template_tasks",
    "notify", "webhook", "resources", "triggers", "retention_days_for_completed", "retention_days_for_failed",
    "retention_days_for_cancelled", "url",
]
FORMICARY_TASK_KEYS = [
    "task_type", "method", "description", "script", "before_script", "after_script", "on_completed", "on_failed",
    "on_exit_code", "allow_failure", "always_run", "allow_start_if_completed", "retry", "delay_between_retries",
    "retry_backoff_policy", "timeout", "variables", "environment", "helper_environment", "dependencies",
    "artifact_ids", "artifacts", "cache", "tags", "except", "headers", "url", "query", "report_stdout",
    "job_version", "fork_job_type", "fork_job_version", "await_forked_tasks", "sub_workflow", "fan_out",
    "messaging_request_queue", "messaging_reply_queue", "approval_policy", "webhook", "resources", "working_dir",
    "artifacts_dir", "cache_dir", "artifact_key_prefix", "container", "helper", "services", "privileged",
    "host_network", "network_mode", "node_selector", "node_tolerations", "affinity", "pod_labels",
    "pod_annotations", "cost_factor", "execute_command_without_shell", "debug",
]


def job(*tasks: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"job_type": "j", **keys, "tasks": list(tasks) or [{"task_type": "build", "method": "SHELL"}]}


def refusal(document: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check_keys(document)
    return caught.value


def test_every_documented_formicary_key_is_known() -> None:
    assert sorted(set(FORMICARY_JOB_KEYS) - set(known_keys(JobDefinitionSpec))) == []
    assert sorted(set(FORMICARY_TASK_KEYS) - set(known_keys(TaskDefinition))) == []
    assert set(UNSUPPORTED_JOB_KEYS) <= set(FORMICARY_JOB_KEYS)
    assert set(UNSUPPORTED_TASK_KEYS) <= set(FORMICARY_TASK_KEYS)


def test_a_definition_with_every_documented_key_passes_the_key_check() -> None:
    task = {key: None for key in FORMICARY_TASK_KEYS} | {"task_type": "build"}
    document = {key: None for key in FORMICARY_JOB_KEYS} | {"job_type": "j", "tasks": [task]}
    warnings = check_keys(document)
    assert len(warnings) == len(UNSUPPORTED_JOB_KEYS) + len(UNSUPPORTED_TASK_KEYS)


@pytest.mark.parametrize(("key", "suggestion"), [("scripts", "script"), ("on_complete", "on_completed"),
                                                 ("on_fail", "on_failed"), ("retries", "retry"),
                                                 ("dependency", "dependencies"), ("exept", "except")])
def test_an_unknown_task_key_names_the_task_and_the_nearest_key(key: str, suggestion: str) -> None:
    error = refusal(job({"task_type": "build", "method": "SHELL", key: ["x"]}))
    assert error.message == f"unknown key {key!r} in task 'build' — did you mean {suggestion!r}?"
    assert error.field == key and error.task == "build" and error.status == 422


def test_an_unknown_job_key_names_the_job_level() -> None:
    error = refusal({"job_type": "j", "taks": [{"task_type": "build"}]})
    assert error.message == "unknown key 'taks' in job — did you mean 'tasks'?"
    assert error.field == "taks" and error.task is None
    assert refusal(job(cron="* * * * *")).message == "unknown key 'cron' in job — did you mean 'cron_trigger'?"


def test_without_a_close_key_there_is_no_suggestion_and_a_nameless_task_is_shown_by_index() -> None:
    error = refusal(job({"task_type": "a", "method": "SHELL"}, {"method": "SHELL", "zzz": 1}))
    assert error.message == "unknown key 'zzz' in tasks[1]"


def test_keys_of_typed_sub_objects_are_checked_too() -> None:
    error = refusal(job({"task_type": "gate", "method": "MANUAL", "approval_policy": {"min_approval": 2}}))
    assert error.message == ("unknown key 'min_approval' in approval_policy of task 'gate' — did you mean "
                             "'min_approvals'?")
    assert error.field == "approval_policy.min_approval"
    error = refusal(job({"task_type": "fork", "method": "FORK_JOB",
                         "sub_workflow": {"input_params": [{"name": "a", "value": 1}, {"name": "b", "valu": 2}]}}))
    assert error.field == "sub_workflow.input_params[1].valu"
    assert "did you mean 'value'?" in error.message
    assert refusal(job(retry_backoff_policy={"minimum": "1s"})).field == "retry_backoff_policy.minimum"


def test_free_form_maps_are_not_checked() -> None:
    assert check_keys(job({"task_type": "t", "method": "SHELL", "variables": {"anything": 1},
                           "on_exit_code": {"42": "COMPLETED"}, "headers": {"X-Any": "1"}},
                          job_variables={"Whatever": 1})) == []


def test_known_keys_myrmica_does_not_run_are_warnings_grouped_by_key() -> None:
    warnings = check_keys(job({"task_type": "a", "method": "SHELL", "container": {"image": "alpine"},
                               "resources": {"value": 1}, "on_completed": "b"},
                              {"task_type": "b", "method": "SHELL", "container": {"image": "alpine"}},
                              {"task_type": "c", "method": "DOCKER", "container": {"image": "alpine"},
                               "host_network": "true", "services": []},
                              notify={"email": {"recipients": ["x@example.com"]}}, methods="SHELL"))
    assert warnings == [
        "job key 'methods': derived from the tasks' methods; the value given is ignored",
        "task key 'resources' (in a): stored, not enforced",
        "task key 'container' (in a, b): stored; only a DOCKER task runs in a container",
        "task key 'services' (in c): stored, not used (a DOCKER task uses container.image, cpu_limit, "
        "memory_limit, volumes and host_network)",
    ]


def test_parse_definition_refuses_unknown_keys_and_carries_the_warnings() -> None:
    source = "job_type: j\ntasks:\n- task_type: build\n  method: SHELL\n  scripts: [echo hi]\n"
    with pytest.raises(ValidationError, match="unknown key 'scripts' in task 'build' — did you mean 'script'"):
        parse_definition(source)
    parsed = parse_definition(source.replace("scripts", "script") + "  cache_dir: /c\n")
    assert parsed.warnings == ("task key 'cache_dir' (in build): stored; a cache is restored into the working "
                               "directory",)


def test_keys_of_a_generated_task_list_are_checked_after_rendering() -> None:
    source = ("job_type: j\njob_variables:\n  N: 2\ntasks:\n{{ range $i := Iterate .N }}\n"
              "- task_type: t{{ $i }}\n  method: SHELL\n  scrpt: [echo]\n{{ end }}\n")
    with pytest.raises(ValidationError, match="unknown key 'scrpt' in task 't0' — did you mean 'script'"):
        parse_definition(source)
