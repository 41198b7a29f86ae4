"""Tork's validation rules, with go-playground/validator's exact messages (spec/tork.md §2, §5 validate_test)."""

from __future__ import annotations

from typing import Any

import pytest

from myrmica.domain.tork.decode import BadInput, decode
from myrmica.domain.tork.validate import is_go_duration, validate_job, validation_errors


def _key(namespace: str, tag: str) -> str:
    field = namespace.rsplit(".", 1)[-1]
    return f"Key: '{namespace}' Error:Field validation for '{field}' failed on the '{tag}' tag"


def _errors(yaml_body: str) -> list[str]:
    return validation_errors(decode(yaml_body, "yaml"))


MINIMAL = "name: j\ntasks:\n  - name: t\n"


def test_a_minimal_job_is_valid_and_image_is_not_required() -> None:
    assert _errors(MINIMAL) == []


def test_name_and_tasks_are_required() -> None:
    assert _errors("description: x\n") == [_key("Job.Name", "required"), _key("Job.Tasks", "required")]
    assert _errors("name: j\ntasks: []\n") == [_key("Job.Tasks", "min")]
    assert _errors("name: j\ntasks:\n  - run: echo\n") == [_key("Job.Tasks[0].Name", "required")]


def test_validate_job_raises_400_with_all_lines() -> None:
    with pytest.raises(BadInput) as caught:
        validate_job(decode("tasks:\n  - run: x\n", "yaml"))
    assert caught.value.status == 400
    assert caught.value.message == _key("Job.Name", "required") + "\n" + _key("Job.Tasks[0].Name", "required")


@pytest.mark.parametrize(("limit", "tag"), [(11, "max"), (0, "required"), (-1, "min")])
def test_retry_limit_is_1_to_10(limit: int, tag: str) -> None:
    assert _errors(f"{MINIMAL}    retry: {{limit: {limit}}}\n") == [_key("Job.Tasks[0].Retry.Limit", tag)]


@pytest.mark.parametrize("limit", [1, 10])
def test_retry_limit_bounds_are_inclusive(limit: int) -> None:
    assert _errors(f"{MINIMAL}    retry: {{limit: {limit}}}\n") == []


def test_an_empty_retry_block_needs_its_limit() -> None:
    assert _errors(f"{MINIMAL}    retry: {{}}\n") == [_key("Job.Tasks[0].Retry.Limit", "required")]


@pytest.mark.parametrize(("priority", "ok"), [(0, True), (9, True), (10, False)])
def test_priority_is_0_to_9(priority: int, ok: bool) -> None:
    assert _errors(f"{MINIMAL}    priority: {priority}\n") == ([] if ok else [_key("Job.Tasks[0].Priority", "max")])
    assert _errors(f"{MINIMAL}defaults: {{priority: {priority}}}\n") == \
        ([] if ok else [_key("Job.Defaults.Priority", "max")])


@pytest.mark.parametrize(("text", "ok"), [
    ("5s", True), ("300ms", True), ("1h30m", True), ("1.5h", True), ("0", True), ("-1m", True), ("2us", True),
    ("5", False), ("1d", False), ("5 s", False), ("", False), ("s", False)])
def test_go_durations(text: str, ok: bool) -> None:
    assert is_go_duration(text) is ok


def test_durations_are_checked_where_tork_checks_them() -> None:
    body = (f"{MINIMAL}    timeout: 5\ndefaults: {{timeout: 1d}}\nautoDelete: {{after: soon}}\n"
            "wait: {timeout: x}\n")
    assert _errors(body) == [_key("Job.Tasks[0].Timeout", "duration"), _key("Job.Defaults.Timeout", "duration"),
                             _key("Job.AutoDelete.After", "duration"), _key("Job.Wait.Timeout", "duration")]


def test_wait_needs_a_timeout() -> None:
    assert _errors(f"{MINIMAL}wait: {{}}\n") == [_key("Job.Wait.Timeout", "required")]


@pytest.mark.parametrize("queue", ["x-abc", "jobs", "pending", "heartbeat", "redeliveries"])
def test_reserved_queues_are_refused(queue: str) -> None:
    assert _errors(f"{MINIMAL}    queue: {queue}\n") == [_key("Job.Tasks[0].Queue", "queue")]
    assert _errors(f"{MINIMAL}defaults: {{queue: {queue}}}\n") == [_key("Job.Defaults.Queue", "queue")]


def test_user_queues_are_fine() -> None:
    assert _errors(f"{MINIMAL}    queue: highcpu\n") == []


def test_var_is_at_most_64_characters() -> None:
    assert _errors(f"{MINIMAL}    var: {'v' * 64}\n") == []
    assert _errors(f"{MINIMAL}    var: {'v' * 65}\n") == [_key("Job.Tasks[0].Var", "max")]


def test_expressions_must_parse() -> None:
    body = ("name: j\noutput: '{1+1}}'\ntasks:\n  - name: t\n    if: '{{ 1 + }}'\n"
            "  - name: e\n    each: {list: '{{ ( }}', task: {name: c}}\n"
            "webhooks:\n  - url: http://x\n    if: '{{ job.State == }}'\n")
    assert _errors(body) == [_key("Job.Tasks[0].If", "expr"), _key("Job.Tasks[1].Each.List", "expr"),
                             _key("Job.Output", "expr"), _key("Job.Webhooks[0].If", "expr")]


def test_each_needs_a_list_and_a_named_task_and_a_bounded_concurrency() -> None:
    body = "name: j\ntasks:\n  - name: e\n    each: {concurrency: 100000}\n"
    assert _errors(body) == [_key("Job.Tasks[0].Each.List", "required"),
                             _key("Job.Tasks[0].Each.Task.Name", "required"),
                             _key("Job.Tasks[0].Each.Concurrency", "max")]


def test_parallel_needs_at_least_one_named_task() -> None:
    assert _errors("name: j\ntasks:\n  - name: p\n    parallel: {tasks: []}\n") == \
        [_key("Job.Tasks[0].Parallel.Tasks", "min")]
    assert _errors("name: j\ntasks:\n  - name: p\n    parallel: {tasks: [{run: x}]}\n") == \
        [_key("Job.Tasks[0].Parallel.Tasks[0].Name", "required")]


def test_subjob_needs_a_name_and_tasks() -> None:
    assert _errors("name: j\ntasks:\n  - name: s\n    subjob: {detached: true}\n") == \
        [_key("Job.Tasks[0].SubJob.Name", "required"), _key("Job.Tasks[0].SubJob.Tasks", "required")]


def test_pre_and_post_tasks_need_names() -> None:
    body = f"{MINIMAL}    pre: [{{run: a}}]\n    post: [{{name: b}}, {{run: c}}]\n"
    assert _errors(body) == [_key("Job.Tasks[0].Pre[0].Name", "required"),
                             _key("Job.Tasks[0].Post[1].Name", "required")]


def test_a_task_is_at_most_one_of_parallel_each_subjob() -> None:
    each = "    each: {list: '{{ [1] }}', task: {name: c}}\n"
    body = "name: j\ntasks:\n  - name: p\n    parallel: {tasks: [{name: a}]}\n" + each
    assert _errors(body) == [_key("Job.Tasks[0].each", "paralleloreach"),
                             _key("Job.Tasks[0].parallel", "paralleloreach")]
    body = "name: j\ntasks:\n  - name: p\n" + each + "    subjob: {name: s, tasks: [{name: a}]}\n"
    assert _errors(body) == [_key("Job.Tasks[0].subjob", "eachorsubjob"), _key("Job.Tasks[0].each", "eachorsubjob")]


@pytest.mark.parametrize("field", ["image: x", "run: x", "env: {A: b}", "queue: q", "retry: {limit: 1}",
                                   "timeout: 5s", "pre: [{name: p}]", "cmd: [a]", "limits: {}"])
def test_composite_tasks_have_no_plain_task_fields(field: str) -> None:
    key = field.split(":")[0]
    body = f"name: j\ntasks:\n  - name: p\n    parallel: {{tasks: [{{name: a}}]}}\n    {field}\n"
    assert _errors(body) == [_key(f"Job.Tasks[0].{key}", "invalidcompositetask")]


@pytest.mark.parametrize(("mount", "tag"), [
    ("{source: /a, target: /b}", "typerequired"),
    ("{type: volume, source: /a, target: /b}", "sourcenotempty"),
    ("{type: volume}", "targetrequired"),
    ("{type: bind, target: /b}", "sourcerequired"),
    ("{type: bind, source: '/a;rm', target: /b}", "invalidsource"),
    ("{type: bind, source: /a, target: '/b$'}", "invalidtarget"),
    ("{type: volume, target: /tork}", "invalidtarget"),
])
def test_mount_rules(mount: str, tag: str) -> None:
    assert _errors(f"{MINIMAL}    mounts: [{mount}]\n") == [_key("Job.Tasks[0].Mounts[0].mount", tag)]


def test_a_good_volume_mount() -> None:
    assert _errors(f"{MINIMAL}    mounts: [{{type: volume, target: /xyz}}]\n") == []


def test_sidecar_probes() -> None:
    body = f"{MINIMAL}    sidecars: [{{name: s, probe: {{port: 70000}}}}]\n"
    assert _errors(body) == [_key("Job.Tasks[0].Sidecars[0].Probe.Path", "required"),
                             _key("Job.Tasks[0].Sidecars[0].Probe.Port", "max")]


def test_webhooks_need_a_url() -> None:
    assert _errors(f"{MINIMAL}webhooks: [{{event: job.StateChange}}]\n") == [_key("Job.Webhooks[0].URL", "required")]


def test_permissions_name_a_user_or_a_role_that_exists() -> None:
    job: dict[str, Any] = decode(f"{MINIMAL}permissions: [{{}}, {{user: a, role: b}}, {{user: ghost}}, {{role: r}}]\n",
                                 "yaml")
    known = {("user", "a"), ("role", "b"), ("role", "r")}
    assert validation_errors(job, permission_exists=lambda kind, name: (kind, name) in known) == [
        _key("Job.Permissions[0].perm", "roleoruser"), _key("Job.Permissions[1].perm", "roleoruser"),
        _key("Job.Permissions[2].perm", "invalidusername")]
