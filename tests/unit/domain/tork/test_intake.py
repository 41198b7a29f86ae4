"""A Tork body from bytes to a core job: Tork's checks in Tork's order, then what this engine cannot run."""

from __future__ import annotations

import pytest

from myrmica.domain.tork.decode import BadInput
from myrmica.domain.tork.intake import read_job
from myrmica.domain.tork.translate import SHELL_RUNTIME

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


MOUNTS = (b"name: hello\ntasks:\n  - name: p\n    parallel:\n      tasks: [{name: a, run: x}]\n"
          b"  - name: q\n    image: alpine\n    mounts: [{type: volume, target: /x}]\n    run: echo\n")


def test_a_job_needing_what_the_engine_lacks_is_refused_with_each_reason() -> None:
    message = _refusal(MOUNTS, "application/x-yaml")
    assert message.startswith("not supported by this server yet: container (")
    assert "; image (a Docker engine" in message


def test_a_job_the_engine_can_run_comes_back_translated() -> None:
    core = read_job(b"name: plain\ntasks:\n  - name: t\n    image: alpine\n    run: echo hi\n", "text/yaml",
                    images=SHELL_RUNTIME)
    assert core.document["tasks"] == [{"task_type": "task-1", "method": "SHELL", "script": ["bash -c 'echo hi'"],
                                       "output_file_env": "TORK_OUTPUT"}]
    assert read_job(HELLO, "text/yaml").needs == ()
    assert read_job(MOUNTS, "text/yaml", supported={"container", "image"}).needs == ("container", "image")


@pytest.mark.parametrize(("listed", "refused"), [
    ("'{{ 5 }}'", True), ("'{{ inputs.x }}'", True), ("'{{ sequence(1, 3) }}'", False),
    ("'{{ fromJSON(inputs.j) }}'", False), ("'{{ tasks.x }}'", False), ("'{{ nope }}'", False),
])
def test_an_each_list_known_at_submit_must_be_a_list(listed: str, refused: bool) -> None:
    body = (f"name: e\ninputs: {{x: abc, j: '[1]'}}\ntasks:\n  - name: e\n    each:\n      list: {listed}\n"
            "      task: {name: c, run: echo}\n").encode()
    if refused:
        assert _refusal(body, "text/yaml") == "each.list does not evaluate to a list"
    else:
        try:
            read_job(body, "text/yaml")
        except BadInput as exc:  # an unknown name is the validator's (an invalid expression)
            assert "each.list does not evaluate" not in exc.message
