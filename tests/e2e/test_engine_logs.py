"""Task output as the API serves it: bounded per task, and with every secret masked everywhere."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, followed_lines, get_request, log_lines, log_text, run, task, task_types

MAX_LOG_BYTES = 1024 * 1024


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    return dataclasses.replace(server_settings, max_log_bytes_per_task=MAX_LOG_BYTES)


LOUD = """job_type: e2e-loud
tasks:
- task_type: loud
  method: SHELL
  script:
    - echo before-the-flood
    - head -c 20000000 /dev/zero | tr '\\0' 'a' | fold -w 100
    - echo after-the-flood
  on_completed: quiet
- task_type: quiet
  method: SHELL
  script:
    - echo quiet-task-still-logs
"""


def test_megabytes_of_output_are_bounded_with_a_truncation_line(api: httpx.Client) -> None:
    apply(api, LOUD)
    done = run(api, "e2e-loud", timeout=30)
    assert done["job_state"] == "COMPLETED", done
    assert task(done, "loud")["task_state"] == "COMPLETED"
    # Everything the engine kept, through the live stream (it pages through any number of lines).
    loud = followed_lines(api, done["id"], "loud")
    kept = sum(len(line["line"].encode()) + 1 for line in loud)
    assert kept <= MAX_LOG_BYTES + 4096, f"{kept} bytes of log kept for one task"
    assert kept >= MAX_LOG_BYTES // 2, f"only {kept} bytes of log kept"
    assert loud[0]["line"] == "before-the-flood"
    truncated = [line for line in loud if "truncated" in line["line"]]
    # Said when the cut happens (a live reader learns why it goes quiet), then counted at the task's end.
    assert [line["line"].rsplit(": ", 1)[-1] for line in truncated] == \
        ["further output is dropped]", truncated[1]["line"].rsplit(": ", 1)[-1]], truncated
    assert truncated[1]["line"].endswith(" bytes dropped]"), truncated
    assert all(line["line"] in ("a" * 100, "before-the-flood") for line in loud if line not in truncated)
    # The bound is per task: the next task's output is kept.
    assert "quiet-task-still-logs" in log_text(api, done["id"], "quiet")
    # The plain (non-streaming) endpoint serves the same lines, up to the truncation notice and the next task.
    plain = log_lines(api, done["id"])
    assert [line["line"] for line in plain if "truncated" in line["line"]] == [t["line"] for t in truncated], \
        f"GET /logs served {len(plain)} lines and no truncation notice"
    assert plain[-1]["line"] == "quiet-task-still-logs"


CONFIG_SECRET = "cfg-s3cr3t-Zq81"
PARAM_SECRET = "param-hunter2-Kx07"

SECRETIVE = """job_type: e2e-secretive
tasks:
- task_type: leak
  method: SHELL
  script:
    - echo "env token=$ApiToken pass=$Password"
    - echo "template pass={{ .Password }} token={{ .ApiToken }}"
    - echo "::set-output name=Leaked::$Password"
    - echo "to stderr $ApiToken" >&2
  on_completed: fail
- task_type: fail
  method: SHELL
  script:
    - test "{{ .ApiToken }}" = "{{ .Password }}"
"""


def test_secrets_are_masked_in_logs_and_never_served(api: httpx.Client) -> None:
    definition = apply(api, SECRETIVE)
    created = api.post(f"/api/jobs/definitions/{definition['id']}/configs",
                       json={"name": "ApiToken", "value": CONFIG_SECRET, "secret": True})
    assert created.status_code == 201, created.text
    done = run(api, "e2e-secretive", {"Visible": "plain"}, secret_params={"Password": PARAM_SECRET})
    assert task_types(done) == ["leak", "fail"]
    assert task(done, "leak")["task_state"] == "COMPLETED"
    assert done["job_state"] == "FAILED"

    lines = log_text(api, done["id"])
    assert "env token=[****] pass=[****]" in lines
    assert "template pass=[****] token=[****]" in lines
    assert "to stderr [****]" in lines
    assert done["params"]["Visible"] == "plain"

    served = {
        "request": api.get(f"/api/jobs/requests/{done['id']}").text,
        "requests": api.get("/api/jobs/requests").text,
        "logs": api.get(f"/api/jobs/requests/{done['id']}/logs").text,
        "configs": api.get(f"/api/jobs/definitions/{definition['id']}/configs").text,
        "definition": api.get(f"/api/jobs/definitions/{definition['id']}").text,
    }
    for name, text in served.items():
        assert CONFIG_SECRET not in text, f"the secret config value is served by {name}"
        assert PARAM_SECRET not in text, f"the secret param value is served by {name}"
    failed = task(get_request(api, done["id"]), "fail")
    assert failed["failed_command"] == 'test "[****]" = "[****]"'
    assert "[****]" in failed["error_message"]


MULTI_LINE_SECRET = "-----BEGIN KEY-----\nline-one-Tq93nM\nline-two-Wz55pR\n-----END KEY-----"
SPLIT_SECRET = "split-secret-Jd82kLmN"

LONG_AND_MULTI_LINE = """job_type: e2e-long-and-multi-line-secrets
tasks:
- task_type: leak
  method: SHELL
  script:
    - printf '%s\\n' "$PrivateKey"
    - head -c 65530 /dev/zero | tr '\\0' x; echo "$Split"
"""


def test_secrets_across_the_line_split_and_multi_line_ones_are_masked(api: httpx.Client) -> None:
    definition = apply(api, LONG_AND_MULTI_LINE)
    created = api.post(f"/api/jobs/definitions/{definition['id']}/configs",
                       json={"name": "PrivateKey", "value": MULTI_LINE_SECRET, "secret": True})
    assert created.status_code == 201, created.text
    done = run(api, "e2e-long-and-multi-line-secrets", secret_params={"Split": SPLIT_SECRET})
    assert done["job_state"] == "COMPLETED", done
    lines = log_text(api, done["id"])
    assert lines[:4] == ["[****]"] * 4  # each line of the key (its BEGIN and END lines too)
    # The 64 KiB cut would fall inside the secret: it falls before it, and the secret is masked whole.
    assert "".join(lines[4:]) == "x" * 65530 + "[****]"
    served = api.get(f"/api/jobs/requests/{done['id']}/logs").text
    for fragment in ("Tq93nM", "Wz55pR", "split-secret", "Jd82kLmN"):
        assert fragment not in served, fragment
