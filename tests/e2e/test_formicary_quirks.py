"""Formicary's doc-vs-code quirks (spec §10) that Myrmica follows or departs from, one test each where
it is behaviour; the README's "Where Myrmica departs from Formicary" lists the departures."""

from __future__ import annotations

import httpx

from tests.support.jobs import apply, count_containing, log_text, run, task

# §10.1: max_concurrency. Myrmica keeps an explicit 1 (Formicary coerces ≤ 1 to 3); unset is 3; as in
# Formicary, a later version's YAML does not change it (PUT …/concurrency does).
LIMITED = """job_type: e2e-limited
max_concurrency: {limit}
tasks:
- task_type: only
  method: SHELL
  script:
    - echo {word}
"""


def test_max_concurrency_one_is_kept_and_later_yaml_does_not_change_it(api: httpx.Client) -> None:
    first = apply(api, LIMITED.format(limit=1, word="one"))
    assert first["max_concurrency"] == 1
    second = apply(api, LIMITED.format(limit=5, word="two"))
    assert second["version"] == 2
    assert second["max_concurrency"] == 1
    unset = apply(api, LIMITED.replace("max_concurrency: {limit}\n", "").replace("e2e-limited", "e2e-unlimited")
                  .format(word="x"))
    assert unset["max_concurrency"] == 3


# §10.17: Formicary caps a job's description at 500 characters (which refuses two of its own examples);
# Myrmica does too (issue 16), with a 4xx naming the field. A script line that YAML reads as a map is a 4xx.
def test_a_long_job_description_and_a_map_script_line_are_refused(api: httpx.Client) -> None:
    job = "job_type: e2e-described\ndescription: {text}\ntasks:\n- task_type: only\n  method: SHELL\n" \
          "  script: [echo described]\n"
    refused = api.post("/api/jobs/definitions", content=job.format(text="a " * 260),
                       headers={"Content-Type": "application/yaml"})
    assert refused.status_code == 422 and "description" in refused.json()["error"], refused.text
    assert apply(api, job.format(text="a " * 250))["description"] == ("a " * 250).strip()
    mapped = api.post("/api/jobs/definitions", headers={"Content-Type": "application/yaml"},
                      content="job_type: e2e-mapped\ntasks:\n- task_type: only\n  method: SHELL\n  script:\n"
                              "    - echo key: value\n")
    assert mapped.status_code == 422, mapped.text
    assert "parses as a map" in mapped.json()["error"] and "quote the line" in mapped.json()["error"]
    assert api.get("/api/jobs/definitions/e2e-mapped").status_code == 404  # nothing half-written


# §10.13: a sensor (exit code mapped to EXECUTING) polls regardless of `retry`, bounded by its timeout.
SENSOR = """job_type: e2e-sensor
tasks:
- task_type: wait-for-it
  method: SHELL
  retry: 0
  timeout: 30s
  delay_between_retries: 10ms
  script:
    - 'n=$(cat "$MYRMICA_JOB_DIR/polls" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$MYRMICA_JOB_DIR/polls";
       echo "poll $n"; if [ $n -lt 4 ]; then exit 9; fi'
  on_exit_code:
    9: EXECUTING
  on_completed: after
- task_type: after
  method: SHELL
  script:
    - echo after-ran
"""


def test_a_sensor_polls_more_times_than_its_retry_allows(api: httpx.Client) -> None:
    apply(api, SENSOR)
    done = run(api, "e2e-sensor")
    assert done["job_state"] == "COMPLETED", done
    lines = log_text(api, done["id"])
    assert count_containing(lines, "poll ") == 4
    assert "after-ran" in lines
    assert task(done, "wait-for-it")["task_state"] == "COMPLETED"


# §10.12: artifacts.when defaults to `always` (Formicary's code; its docs say onSuccess).
ARTIFACTS = """job_type: e2e-artifacts-when
tasks:
- task_type: fails-with-output
  method: SHELL
  allow_failure: true
  artifacts:
    paths: [out.txt]
  script:
    - echo kept > out.txt; exit 1
  on_completed: fails-on-success-only
- task_type: fails-on-success-only
  method: SHELL
  allow_failure: true
  artifacts:
    paths: [out.txt]
    when: onSuccess
  script:
    - echo dropped > out.txt; exit 1
"""


def test_artifacts_are_kept_by_default_even_when_the_task_fails(api: httpx.Client) -> None:
    apply(api, ARTIFACTS)
    done = run(api, "e2e-artifacts-when")
    assert done["job_state"] == "COMPLETED", done
    assert "artifacts kept: out.txt" in log_text(api, done["id"], "fails-with-output")
    assert count_containing(log_text(api, done["id"], "fails-on-success-only"), "artifacts kept") == 0


# §10.15: `split` and `join` are in Formicary's docs but not its template functions; nor in Myrmica's,
# which refuses such a definition at upload (Formicary fails the task when it runs).
SPLIT = """job_type: e2e-split
tasks:
- task_type: only
  method: SHELL
  script:
    - echo {{ split .List "," }}
"""


def test_split_is_not_a_template_function_and_the_upload_says_so(api: httpx.Client) -> None:
    response = api.post("/api/jobs/definitions", content=SPLIT, headers={"Content-Type": "application/yaml"})
    assert 400 <= response.status_code < 500, response.text
    assert 'function "split" not defined' in response.json()["error"]
