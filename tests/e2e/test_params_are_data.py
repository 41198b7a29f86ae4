"""A param is data, never template source; and a template's error never quotes a secret."""

from __future__ import annotations

import httpx
import pytest

from tests.support.jobs import apply, log_text, run, task

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)

ECHO = """job_type: params-are-data
tasks:
- task_type: greet
  method: SHELL
  script:
    - echo "{{ .Name }}"
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo after
"""


@pytest.mark.parametrize("value", ["\n- echo injected", "x\n    - echo injected", "x\n  method: HTTP_GET",
                                   "x\n  on_completed: nowhere\n- task_type: planted\n  method: SHELL"])
def test_a_newline_in_a_param_adds_no_script_line_and_changes_no_method(api: httpx.Client, value: str) -> None:
    apply(api, ECHO)
    done = run(api, "params-are-data", {"Name": value})
    assert done["job_state"] == "COMPLETED", (done["error_code"], done["error_message"])
    greet = task(done, "greet")
    assert greet["method"] == "SHELL"
    assert [t["task_type"] for t in done["execution"]["tasks"]] == ["greet", "after"]
    # The shell got one command: it echoed the value's lines as text, ran none of them.
    assert [line.strip() for line in log_text(api, done["id"], "greet")] == [line.strip() for line in
                                                                             value.split("\n")]


SECRET = "s3cr3t-value-Q7"
BROKEN = """job_type: leaky-template
tasks:
- task_type: convert
  method: SHELL
  script:
    - echo {{ atoi .ApiKey }}
"""
TIMEOUT = """job_type: leaky-timeout
tasks:
- task_type: timed
  method: SHELL
  timeout: {{ .ApiKey }}
  script:
    - echo never
"""


def _failed_message(api: httpx.Client, job_type: str, **fields: object) -> str:
    done = run(api, job_type, **fields)  # type: ignore[arg-type]
    assert done["job_state"] == "FAILED" and done["error_code"] == "ERR_TEMPLATE", done
    text = f"{done['error_message']} {done['execution']['tasks'][0]['error_message']} {log_text(api, done['id'])}"
    assert SECRET not in text
    return str(done["error_message"])


def test_a_template_error_names_the_secret_config_not_its_value(api: httpx.Client) -> None:
    definition = apply(api, BROKEN)
    assert api.post(f"/api/jobs/definitions/{definition['id']}/configs",
                    json={"name": "ApiKey", "value": SECRET, "secret": True}).status_code == 201
    assert "atoi: parsing .ApiKey: invalid syntax" in _failed_message(api, "leaky-template")


def test_a_template_error_names_the_secret_param_not_its_value(api: httpx.Client) -> None:
    apply(api, TIMEOUT)
    message = _failed_message(api, "leaky-timeout", secret_params={"ApiKey": SECRET})
    assert "timeout" in message and "[secret ApiKey]" in message, message
