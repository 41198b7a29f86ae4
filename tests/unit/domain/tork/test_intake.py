"""A Tork body from bytes to a core job: Tork's checks in Tork's order, then what this engine cannot run."""

from __future__ import annotations

import pytest

from myrmica.domain.tork.decode import BadInput
from myrmica.domain.tork.intake import read_job

HELLO = (b"name: hello\noutput: '{{ tasks.hello }}'\n"
         b"tasks:\n  - var: hello\n    name: t\n    run: echo -n hi > $TORK_OUTPUT\n")


def _refusal(body: bytes, content_type: str | None, **kw: object) -> str:
    with pytest.raises(BadInput) as caught:
        read_job(body, content_type, **kw)  # type: ignore[arg-type]
    return caught.value.message


def test_content_type_comes_before_the_body() -> None:
    assert _refusal(b"not: [valid", None) == "missing content type"
    assert _refusal(b"{}", "application/json; charset=utf-8") == "unknown content type: application/json; charset=utf-8"


def test_decode_errors_come_before_validation() -> None:
    assert _refusal(b'{"foo": 1}', "application/json") == 'json: unknown field "foo"'


def test_validation_comes_before_translation() -> None:
    assert _refusal(b"name: x\ntasks:\n  - name: t\n    retry: {limit: 11}\n", "text/yaml") == \
        "Key: 'Job.Tasks[0].Retry.Limit' Error:Field validation for 'Limit' failed on the 'max' tag"


# A templated queue: a plain one is an ant tag, a templated one is known only when its task is created.
PARALLEL_AND_QUEUE = (b"name: hello\ntasks:\n  - name: p\n    parallel:\n      tasks: [{name: a, run: x}]\n"
                      b"  - name: q\n    queue: \"{{ inputs.q }}\"\n    run: echo\n")


def test_a_job_needing_what_the_engine_lacks_is_refused_with_each_reason() -> None:
    message = _refusal(PARALLEL_AND_QUEUE, "application/x-yaml")
    assert message.startswith("not supported by this server yet: parallel (")
    assert "; queue (" in message


def test_a_job_the_engine_can_run_comes_back_translated() -> None:
    core = read_job(b"name: plain\ntasks:\n  - name: t\n    image: alpine\n    run: echo hi\n", "text/yaml")
    assert core.document["tasks"] == [{"task_type": "task-1", "method": "SHELL", "script": ["bash -c 'echo hi'"],
                                       "output_file_env": "TORK_OUTPUT"}]
    assert read_job(HELLO, "text/yaml").needs == ()
    assert read_job(PARALLEL_AND_QUEUE, "text/yaml", supported={"parallel", "queue"}).needs == ("parallel", "queue")
