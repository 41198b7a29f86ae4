"""Variable names that would change how a task's programs load are refused at upload."""

from __future__ import annotations

import pytest

from myrmica.domain.definitions import parse_definition
from myrmica.domain.errors import ValidationError
from myrmica.domain.task_env import refused


def definition(task_keys: str = "", job_keys: str = "") -> str:
    return f"""job_type: loader-vars
{job_keys}
tasks:
- task_type: build
  method: SHELL
  script: [env]
{task_keys}
"""


@pytest.mark.parametrize(("task_keys", "job_keys", "field"), [
    ("  variables:\n    LD_PRELOAD: /tmp/evil.so\n", "", "variables.LD_PRELOAD"),
    ("  environment:\n    PATH: /tmp/evil\n", "", "environment.PATH"),
    ("  environment:\n    LD_LIBRARY_PATH: /tmp\n", "", "environment.LD_LIBRARY_PATH"),
    ("", "job_variables:\n  BASH_ENV: /tmp/evil.sh\n", "job_variables.BASH_ENV"),
    ("  variables:\n    PYTHONPATH: /tmp\n", "", "variables.PYTHONPATH"),
])
def test_a_definition_naming_a_loader_variable_is_refused(task_keys: str, job_keys: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_definition(definition(task_keys, job_keys))
    assert caught.value.field == field
    assert field.split(".")[1] in caught.value.message
    assert "how the task's programs are found, loaded or started" in caught.value.message


def test_ordinary_names_are_kept() -> None:
    parsed = parse_definition(definition("  variables:\n    ENV: prod\n    path: x\n    LD: 1\n    MY_PATH: y\n"))
    assert parsed.spec.tasks[0].variables == {"ENV": "prod", "path": "x", "LD": 1, "MY_PATH": "y"}


def test_refused_names() -> None:
    assert all(refused(name) for name in ("PATH", "LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "IFS",
                                          "BASH_ENV", "BASH_FUNC_x%%", "PERL5OPT", "NODE_OPTIONS"))
    assert not any(refused(name) for name in ("ENV", "HOME", "LANG", "Path", "OLDPATH", "LDAP_URL"))
