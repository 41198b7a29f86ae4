"""A templated YAML document takes its structure from the template; a value is data wherever it goes."""

from __future__ import annotations

from typing import Any

import pytest

from myrmica.templating.yaml_render import RenderedYamlError, render_yaml

TASK = """tasks:
- task_type: greet
  method: SHELL
  retry: {{ .Retry }}
  timeout: {{ .Secs }}s
  script:
    - echo hello {{ .Name }}
    - "quoted {{ .Name }}"
"""


def task(name: Any, **data: Any) -> dict[str, Any]:
    document = render_yaml(TASK, {"Name": name, "Retry": 2, "Secs": 30, **data})
    found: dict[str, Any] = document["tasks"][0]
    return found


@pytest.mark.parametrize("value", ["\n- echo injected", "x\n    - echo injected", "x\n  method: HTTP_GET",
                                   "x: y", "[1, 2]", "{a: 1}", "'", '"', "#", "&a *a", "!!python/object x",
                                   "x\n  script: [rm -rf /]"])
def test_a_value_cannot_add_structure(value: str) -> None:
    rendered = task(value)
    assert rendered["method"] == "SHELL"
    assert rendered["script"] == [f"echo hello {value}", f"quoted {value}"]
    assert set(rendered) == {"task_type", "method", "retry", "timeout", "script"}


def test_plain_scalars_keep_the_type_yaml_gives_their_text() -> None:
    rendered = task("x")
    assert rendered["retry"] == 2 and rendered["timeout"] == "30s"
    assert render_yaml('a: "{{ .N }}"\nb: {{ .N }}\nc: {{ .B }}\nd: {{ .L }}',
                       {"N": 7, "B": True, "L": [1, 2]}) == {"a": "7", "b": 7, "c": True, "d": "[1 2]"}


def test_actions_still_make_the_structure() -> None:
    source = """tasks:
{{- range $i := Iterate 3 }}
- task_type: t{{ $i }}
  {{ if lt $i 2 }}
  on_completed: t{{ Add $i 1 }}
  {{ end }}
{{- end }}
{{ if .Extra }}
- task_type: extra
{{ end }}
"""
    from myrmica.domain.definitions import UPLOAD_FUNCTIONS

    document = render_yaml(source, {"Extra": True}, UPLOAD_FUNCTIONS)
    assert document["tasks"] == [{"task_type": "t0", "on_completed": "t1"}, {"task_type": "t1", "on_completed": "t2"},
                                 {"task_type": "t2"}, {"task_type": "extra"}]


def test_values_go_into_keys_and_block_scalars_whole() -> None:
    source = "variables:\n  {{ .K }}: v\nscript: |\n  cat <<EOF\n  {{ .Body }}\n  EOF\n"
    document = render_yaml(source, {"K": "key: with colon", "Body": "line 1\n\nline 3"})
    assert document == {"variables": {"key: with colon": "v"}, "script": "cat <<EOF\nline 1\n\nline 3\nEOF"}


def test_a_yaml_error_shows_the_action_never_the_value() -> None:
    with pytest.raises(RenderedYamlError) as info:
        render_yaml("a: [{{ .Token }}\nb: c", {"Token": "hunter2-s3cret"})
    assert "hunter2-s3cret" not in str(info.value)
    assert "{{.Token}}" in str(info.value) or "line" in str(info.value)


def test_values_too_big_for_their_type_are_a_render_error() -> None:
    for value in ("9" * 5000, "99999999999999999999", ".inf"):
        with pytest.raises(RenderedYamlError) as caught:
            render_yaml("retry: {{.N}}\n", {"N": value})
        assert value not in str(caught.value)


def test_aliases_repeated_by_a_range_are_bounded() -> None:
    source = ("a: &a [" + ",".join(["x"] * 50) + "]\nb: &b [" + ",".join(["*a"] * 50) + "]\n"
              "items:\n{{range .Items}}- *b\n{{end}}")
    assert len(render_yaml(source, {"Items": [1, 2]})["items"]) == 2
    with pytest.raises(RenderedYamlError, match="expands"):
        render_yaml(source, {"Items": list(range(100))})
