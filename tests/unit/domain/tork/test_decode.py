"""Strict decoding of Tork job bodies: Tork's content types, unknown keys and type errors, with its texts."""

from __future__ import annotations

import pytest

from myrmica.domain.tork.decode import BadInput, body_format, decode
from tests.support.examples import NO_SHARED_EXAMPLES, TORK_EXAMPLES


def _message(body: str, fmt: str) -> str:
    with pytest.raises(BadInput) as caught:
        decode(body, fmt)
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(("content_type", "fmt"), [
    ("application/json", "json"), ("text/yaml", "yaml"), ("application/x-yaml", "yaml")])
def test_the_three_content_types_tork_accepts(content_type: str, fmt: str) -> None:
    assert body_format(content_type) == fmt


@pytest.mark.parametrize(("content_type", "message"), [
    (None, "missing content type"),
    ("", "missing content type"),
    ("application/json; charset=utf-8", "unknown content type: application/json; charset=utf-8"),
    ("text/plain", "unknown content type: text/plain"),
    ("Application/JSON", "unknown content type: Application/JSON"),
])
def test_content_type_is_compared_exactly(content_type: str | None, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        body_format(content_type)
    assert caught.value.message == message


def test_scheduled_jobs_take_json_and_text_yaml_only() -> None:
    from myrmica.domain.tork.decode import SCHEDULED_JOB_CONTENT_TYPES
    assert body_format("text/yaml", SCHEDULED_JOB_CONTENT_TYPES) == "yaml"
    with pytest.raises(BadInput, match="unknown content type: application/x-yaml"):
        body_format("application/x-yaml", SCHEDULED_JOB_CONTENT_TYPES)


def test_yaml_unknown_keys_are_all_reported_with_their_lines_and_go_types() -> None:
    body = "name: x\nfoo: 1\ntasks:\n  - name: a\n    bar: 2\n    retry:\n      limit: 1\n      initialDelay: 1s\n"
    assert _message(body, "yaml") == (
        "yaml: unmarshal errors:\n"
        "  line 2: field foo not found in type input.Job\n"
        "  line 5: field bar not found in type input.Task\n"
        "  line 8: field initialDelay not found in type input.Retry")


@pytest.mark.parametrize("key", ["volumes", "probe"])
def test_removed_task_keys_are_refused(key: str) -> None:
    body = f"name: x\ntasks:\n  - name: a\n    {key}: [x]\n"
    assert _message(body, "yaml") == f"yaml: unmarshal errors:\n  line 4: field {key} not found in type input.Task"


def test_schedule_is_not_a_key_of_post_jobs() -> None:
    assert "field schedule not found in type input.Job" in _message("name: x\nschedule: {cron: '* * * * *'}\n", "yaml")


def test_json_unknown_key_is_the_first_error() -> None:
    assert _message('{"name": "x", "foo": 1, "tasks": [{"bar": 2}]}', "json") == 'json: unknown field "foo"'
    assert _message('{"name": "x", "tasks": [{"name": "a", "bar": 2}]}', "json") == 'json: unknown field "bar"'


def test_json_keys_match_case_insensitively_like_encoding_json() -> None:
    assert decode('{"NAME": "x", "Tasks": [{"Name": "a"}]}', "json") == {"name": "x", "tasks": [{"name": "a"}]}


def test_json_type_errors_use_go_wording() -> None:
    assert _message('{"name": 1}', "json") == \
        "json: cannot unmarshal number into Go struct field Job.name of type string"
    assert _message('{"inputs": {"a": 1}}', "json") == \
        "json: cannot unmarshal number into Go struct field Job.inputs of type string"
    assert _message('{"tasks": [{"retry": {"limit": "x"}}]}', "json") == \
        "json: cannot unmarshal string into Go struct field Retry.tasks.retry.limit of type int"
    assert _message("[1]", "json") == "json: cannot unmarshal array into Go value of type input.Job"


def test_yaml_type_errors_use_yaml_v3_wording() -> None:
    assert _message("name: [1]\n", "yaml") == "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into string"
    assert _message("tasks: x\n", "yaml") == \
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `x` into []input.Task"
    assert _message("tasks:\n  - name: a\n    retry: {limit: abcdefghijkl}\n", "yaml") == \
        "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `abcdefg...` into int"


def test_yaml_scalars_are_kept_as_their_text() -> None:
    job = decode("name: x\ninputs:\n  n: 2\n  b: true\n  f: .5\n  e:\ntasks:\n  - name: a\n    retry: {limit: 3}\n"
                 "    limits: {cpus: .5}\n", "yaml")
    assert job["inputs"] == {"n": "2", "b": "true", "f": ".5", "e": ""}
    assert job["tasks"][0]["retry"] == {"limit": 3}
    assert job["tasks"][0]["limits"] == {"cpus": ".5"}


def test_json_strings_must_be_strings_in_inputs() -> None:
    assert decode('{"inputs": {"a": "1"}, "name": null}', "json") == {"inputs": {"a": "1"}}


def test_empty_and_malformed_bodies() -> None:
    assert _message("", "yaml") == "EOF"
    assert _message("  ", "json") == "EOF"
    assert _message('{"name": ', "json") == "unexpected EOF"
    assert _message("{x", "json") == "invalid character 'x' looking for beginning of object key string"
    assert _message("name: [x\n", "yaml").startswith("yaml: line ")


def test_only_the_first_yaml_document_and_the_first_json_value_are_read() -> None:
    assert decode("name: a\n---\nfoo: 1\n", "yaml") == {"name": "a"}
    assert decode('{"name": "a"} trailing', "json") == {"name": "a"}


def test_yaml_merge_keys_are_honoured() -> None:
    body = "name: x\ntasks:\n  - &base {name: a, run: echo}\n  - <<: *base\n    name: b\n"
    assert decode(body, "yaml")["tasks"] == [{"name": "a", "run": "echo"}, {"run": "echo", "name": "b"}]


@pytest.mark.skipif(not TORK_EXAMPLES.is_dir(), reason=NO_SHARED_EXAMPLES)
def test_every_tork_example_decodes_and_validates() -> None:
    from myrmica.domain.tork.validate import validate_job
    files = sorted(TORK_EXAMPLES.glob("*.yaml"))
    assert files
    for path in files:
        job = decode(path.read_text(), "yaml")
        validate_job(job)
        assert job["name"] and job["tasks"], path.name


def test_a_billion_laughs_is_refused_at_once() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    message = _message("\n".join(lines) + "\nname: x\n", "yaml")
    assert message.startswith("yaml: the document expands to more than")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_refused(fmt: str) -> None:
    assert "nested more than 64 levels deep" in _message('{"inputs": ' + "[" * 200 + "]" * 200 + "}", fmt)


def test_json_numbers_beyond_int64_are_refused() -> None:
    assert _message('{"tasks": [{"priority": 123456789012345678901234}]}', "json").startswith("json: ")
