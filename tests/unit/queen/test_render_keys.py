"""A key that only a template produces is checked when the task is rendered, just before it runs."""

from __future__ import annotations

import pytest

from myrmica.domain.definitions import parse_definition
from myrmica.queen.render import RenderError, render_task

SOURCE = """job_type: j
tasks:
- task_type: build
  method: SHELL
  script: [echo hi]
  {{ if .Extra }}scrpt: [echo extra]{{ end }}
"""


def test_a_rendered_unknown_key_fails_the_task_with_the_nearest_known_key() -> None:
    parsed = parse_definition(SOURCE)  # the templated line is not seen at upload
    assert render_task(SOURCE, "yaml", parsed.spec, "build", {"Extra": False}).script == ["echo hi"]
    with pytest.raises(RenderError) as caught:
        render_task(SOURCE, "yaml", parsed.spec, "build", {"Extra": True})
    assert str(caught.value) == "unknown key 'scrpt' in task 'build' — did you mean 'script'? (after rendering)"
