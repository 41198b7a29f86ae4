"""The core's ``templates: expr`` definitions through the native API: a task's result file and
``result_var``, expr-lang in environment values and ``run_if`` (rendered when each task is created),
the job's ``output``, ``files``; the script is never templated (the machinery the Tork dialect uses)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.jobs import apply, run, task

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)

DEFINITION = """job_type: expr-chain
templates: expr
output: "{{ tasks.greeting }}!"
tasks:
- task_type: greet
  method: SHELL
  output_file_env: RESULT
  result_var: greeting
  environment:
    WHO: "{{ inputs.Who }}"
  files:
    hello.txt: hello
  script:
    - printf '%s %s' "$(cat hello.txt)" "$WHO" > "$RESULT"
  on_completed: maybe
- task_type: maybe
  method: SHELL
  run_if: "{{ inputs.Who == 'nobody' }}"
  script:
    - exit 1
  on_completed: last
- task_type: last
  method: SHELL
  environment:
    SEEN: "{{ tasks.greeting }}"
  script:
    - echo "seen $SEEN; {{ .NotGo }}; job ${JobID:-no-variables}"
"""


def test_an_expr_definition_runs_with_results_and_output(api: httpx.Client) -> None:
    apply(api, DEFINITION)
    done = run(api, "expr-chain", {"Who": "world"})
    assert done["job_state"] == "COMPLETED", done
    assert {c["name"]: c["value"] for c in task(done, "greet")["contexts"]}["result"] == "hello world"
    assert task(done, "maybe")["exit_code"] == "SKIPPED"
    lines = [line["line"] for line in api.get(f"/api/jobs/requests/{done['id']}/logs").json()["lines"]]
    assert "seen hello world; {{ .NotGo }}; job no-variables" in lines
