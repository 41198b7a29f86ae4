"""The native definitions API as a client sees it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.support.examples import FORMICARY_EXAMPLES, NO_SHARED_EXAMPLES, PROJECT_EXAMPLES
from tests.support.live import LiveServer

# Definitions never touch the broker: the two stores, not the distributed mode.
pytestmark = pytest.mark.modes("sqlite", "postgresql")

# Formicary's own examples are beside this checkout in the project's workspace only; the tests reading them are
# skipped elsewhere (a fresh clone). The project's own examples run in tests/e2e/test_project_examples.py.
EXAMPLES = FORMICARY_EXAMPLES
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
needs_formicary_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=NO_SHARED_EXAMPLES)

SIMPLE = """job_type: simple
tasks:
- task_type: one
  method: SHELL
  script: ["echo one"]
  on_completed: two
- task_type: two
  method: SHELL
  script: ["echo two"]
"""


def post_yaml(api: httpx.Client, text: str) -> httpx.Response:
    return api.post("/api/jobs/definitions", content=text, headers={"Content-Type": "application/yaml"})


@needs_formicary_examples
def test_examples_exist() -> None:
    assert len(EXAMPLE_FILES) >= 8


@needs_formicary_examples
def test_every_example_uploads_reads_back_and_round_trips(api: httpx.Client) -> None:
    for path in EXAMPLE_FILES:
        source = path.read_text()
        created = post_yaml(api, source)
        assert created.status_code == 201, (path.name, created.text)
        body = created.json()
        assert body["version"] == 1
        assert all("stored" in w or "derived" in w for w in body["warnings"]), body
        by_type = api.get(f"/api/jobs/definitions/{body['job_type']}")
        assert by_type.status_code == 200
        tasks = [t["task_type"] for t in by_type.json()["tasks"]]
        assert tasks and len(tasks) == len(set(tasks))
        exported = api.get(f"/api/jobs/definitions/{body['job_type']}/yaml")
        assert exported.status_code == 200 and exported.text == source
        again = post_yaml(api, exported.text)
        assert again.status_code == 200 and again.json()["id"] == body["id"]
        assert again.json()["version"] == 1


@needs_formicary_examples
def test_example_tasks_are_all_read(api: httpx.Client) -> None:
    post_yaml(api, (EXAMPLES / "shell_build.yaml").read_text())
    body = api.get("/api/jobs/definitions/shell-build").json()
    assert [t["task_type"] for t in body["tasks"]] == ["build", "unit-tests", "int-tests", "deploy", "notify"]
    build = body["tasks"][0]
    assert build["method"] == "SHELL"
    assert build["on_exit_code"] == {"COMPLETED": "unit-tests"}
    assert body["tasks"][2]["allow_failure"] is True
    assert body["tasks"][4]["always_run"] is True
    post_yaml(api, (EXAMPLES / "iterate-job.yaml").read_text())
    iterate = api.get("/api/jobs/definitions/iterate-job").json()
    assert [t["task_type"] for t in iterate["tasks"]] == [f"task-{i}" for i in range(5)]
    assert iterate["tasks"][0]["on_exit_code"] == {"COMPLETED": "task-1"}
    assert iterate["tasks"][4]["on_exit_code"] == {}
    post_yaml(api, (EXAMPLES / "retry-job.yaml").read_text())
    retry = api.get("/api/jobs/definitions/retry-job").json()
    assert retry["retry"] == 2 and retry["delay_between_retries"] == 6_000_000_000
    assert retry["tasks"][0]["on_exit_code"] == {"10": "PAUSE_JOB", "200": "second", "COMPLETED": "second"}


def test_changing_one_script_line_makes_version_two(api: httpx.Client) -> None:
    source = (PROJECT_EXAMPLES / "build-test-deploy.yaml").read_text()
    first = post_yaml(api, source).json()
    changed = source.replace("- cat dist/app.txt", "- cat dist/*.txt")
    assert changed != source
    second = post_yaml(api, changed)
    assert second.status_code == 201
    assert second.json()["version"] == 2 and second.json()["id"] != first["id"]
    versions = api.get("/api/jobs/definitions/type/build-test-deploy/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert [v["active"] for v in versions] == [True, False]
    old = api.get("/api/jobs/definitions/build-test-deploy", params={"version": 1}).json()
    assert old["id"] == first["id"]
    assert api.get(f"/api/jobs/definitions/{first['id']}").json()["version"] == 1


def test_json_upload(api: httpx.Client) -> None:
    doc = yaml.safe_load(SIMPLE)
    response = api.post("/api/jobs/definitions", content=json.dumps(doc),
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    assert api.get("/api/jobs/definitions/simple/yaml").headers["content-type"].startswith("application/json")


def test_list_envelope_filters_and_both_page_size_spellings(api: httpx.Client) -> None:
    for i in range(3):
        post_yaml(api, SIMPLE.replace("job_type: simple", f"job_type: simple-{i}\nplatform: linux"
                                      if i == 0 else f"job_type: simple-{i}"))
    body = api.get("/api/jobs/definitions", params={"page_size": 2}).json()
    assert set(body) == {"Page", "PageSize", "Records", "TotalPages", "TotalRecords"}
    assert body["TotalRecords"] == 3 and body["TotalPages"] == 2 and len(body["Records"]) == 2
    body = api.get("/api/jobs/definitions", params={"pageSize": 1, "page": 2}).json()
    assert body["Page"] == 2 and [r["job_type"] for r in body["Records"]] == ["simple-2"]
    assert api.get("/api/jobs/definitions", params={"platform": "linux"}).json()["TotalRecords"] == 1
    assert api.get("/api/jobs/definitions", params={"job_type": "simple-1"}).json()["TotalRecords"] == 1
    api.post("/api/jobs/definitions/simple-1/disable")
    assert api.get("/api/jobs/definitions", params={"disabled": "true"}).json()["Records"][0]["job_type"] \
        == "simple-1"
    assert api.get("/api/jobs/plugins").json()["TotalRecords"] == 0


def test_disable_enable_concurrency_delete(api: httpx.Client) -> None:
    post_yaml(api, SIMPLE)
    assert api.post("/api/jobs/definitions/simple/disable").json()["disabled"] is True
    assert api.post("/api/jobs/definitions/simple/enable").json()["disabled"] is False
    response = api.put("/api/jobs/definitions/simple/concurrency", data={"concurrency": "7"})
    assert response.status_code == 200 and response.json()["max_concurrency"] == 7
    assert api.put("/api/jobs/definitions/simple/concurrency", data={"concurrency": "zero"}).status_code == 400
    assert api.delete("/api/jobs/definitions/simple").status_code == 200
    assert api.get("/api/jobs/definitions/simple").status_code == 404


def test_dot_and_png(api: httpx.Client) -> None:
    post_yaml(api, SIMPLE)
    dot = api.get("/api/jobs/definitions/simple/dot")
    assert dot.status_code == 200 and '"one" -> "two"' in dot.text
    png = api.get("/api/jobs/definitions/simple/dot.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_job_configs(api: httpx.Client) -> None:
    post_yaml(api, SIMPLE)
    base = "/api/jobs/definitions/simple/configs"
    created = api.post(base, json={"Name": "token", "Value": "s3cret", "Secret": True})
    assert created.status_code == 201 and created.json()["value"] == "****"
    plain = api.post(base, json={"name": "region", "value": "eu"}).json()
    listed = api.get(base).json()["Records"]
    assert {c["name"]: c["value"] for c in listed} == {"region": "eu", "token": "****"}
    assert "s3cret" not in api.get(base).text
    config_id = created.json()["id"]
    kept = api.put(f"{base}/{config_id}", json={"name": "token", "value": "****", "secret": True})
    assert kept.status_code == 200 and kept.json()["value"] == "****"
    assert api.get(f"{base}/{plain['id']}").json()["value"] == "eu"
    assert api.post(base, json={"name": "region", "value": "us"}).status_code == 409
    assert api.post(base, json={"value": "x"}).status_code == 400
    assert api.delete(f"{base}/{plain['id']}").status_code == 200
    assert api.get(f"{base}/{plain['id']}").status_code == 404
    # configs stay with the job type across versions
    post_yaml(api, SIMPLE.replace("echo two", "echo 2"))
    assert [c["name"] for c in api.get(base).json()["Records"]] == ["token"]


def test_health_needs_no_token_and_metrics_do(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        health = anonymous.get("/api/health")
        assert health.status_code == 200
        database = health.json()["dependent_service_statuses"][0]["Monitored"]
        assert database["name"] == "database" and database["kind"] in ("sqlite", "postgresql")
        assert anonymous.get("/api/metrics").status_code == 401
    with server.client() as api:
        metrics = api.get("/api/metrics")
        assert metrics.status_code == 200 and "myrmica_job_definitions_saved" in metrics.text


BAD_INPUTS = [
    ("malformed yaml", "job_type: x\ntasks: [\n", 422, "body"),
    ("unknown method", SIMPLE.replace("method: SHELL\n  script: [\"echo two\"]", "method: TELEPORT\n  script: []"),
     422, "method"),
    ("missing target", SIMPLE.replace("on_completed: two", "on_completed: three"), 422, "on_exit_code"),
    ("unreachable", SIMPLE.replace("  on_completed: two\n", ""), 422, "task_type"),
    ("duplicate", SIMPLE.replace("task_type: two", "task_type: one"), 422, "task_type"),
    ("no tasks", "job_type: empty\ntasks: []\n", 422, "tasks"),
    ("template syntax", SIMPLE.replace("echo two", "echo {{ end }} two"), 422, "template"),
    ("not a mapping", "- just\n- a list\n", 422, "body"),
    ("unknown task key", SIMPLE.replace('script: ["echo two"]', 'scripts: ["echo two"]'), 422, "scripts"),
    ("unknown job key", SIMPLE.replace("job_type: simple\n", "job_type: simple\nmax_concurency: 2\n"), 422,
     "max_concurency"),
    ("wrong type", SIMPLE.replace("method: SHELL\n  script: [\"echo one\"]", "method: SHELL\n  retry: lots\n"
                                  "  script: [\"echo one\"]"), 422, "retry"),
]


@pytest.mark.parametrize(("case", "source", "status", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_definitions_are_refused_and_nothing_is_stored(api: httpx.Client, case: str, source: str,
                                                           status: int, field: str) -> None:
    response = post_yaml(api, source)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body.get("field") == field
    assert api.get("/api/jobs/definitions").json()["TotalRecords"] == 0
    assert api.get("/api/health").status_code == 200


def test_refusals_name_the_task(api: httpx.Client) -> None:
    body = post_yaml(api, SIMPLE.replace("on_completed: two", "on_completed: three")).json()
    assert body["task"] == "one" and "three" in body["error"]
    body = post_yaml(api, SIMPLE.replace("echo two", "echo {{ end }} two")).json()
    assert "line 9" in body["error"]


def test_unknown_keys_are_named_with_the_nearest_known_one(api: httpx.Client) -> None:
    body = post_yaml(api, SIMPLE.replace('script: ["echo two"]', 'scripts: ["echo two"]')).json()
    assert body["error"] == "unknown key 'scripts' in task 'two' — did you mean 'script'?"
    assert body["task"] == "two"
    body = post_yaml(api, SIMPLE.replace("  on_completed: two", "  on_complete: two")).json()
    assert body["error"] == "unknown key 'on_complete' in task 'one' — did you mean 'on_completed'?"
    body = post_yaml(api, SIMPLE.replace("tasks:", "taks:")).json()
    assert body["error"] == "unknown key 'taks' in job — did you mean 'tasks'?"
    body = post_yaml(api, SIMPLE.replace("  on_completed: two", "  on_completed: two\n  approval_policy:\n"
                                         "    min_approval: 2")).json()
    assert body["error"] == ("unknown key 'min_approval' in approval_policy of task 'one' — did you mean "
                             "'min_approvals'?") and body["field"] == "approval_policy.min_approval"
    body = post_yaml(api, SIMPLE.replace("  on_completed: two", "  on_completed: two\n  zzz: 1")).json()
    assert body["error"] == "unknown key 'zzz' in task 'one'", "no suggestion when nothing is close"
    assert api.get("/api/jobs/definitions").json()["TotalRecords"] == 0


def test_formicary_keys_myrmica_does_not_run_upload_with_warnings(api: httpx.Client) -> None:
    source = SIMPLE.replace("tasks:", "notify:\n  email:\n    recipients: [ops@example.com]\nresources:\n"
                            "  resource_type: License\ntasks:")
    source = source.replace('  script: ["echo one"]', '  script: ["echo one"]\n  container:\n    image: alpine')
    created = post_yaml(api, source)
    assert created.status_code == 201, created.text
    warnings = created.json()["warnings"]
    assert [w.split(":")[0] for w in warnings] == ["job key 'resources'",  # notify is sent now: no warning
                                                   "task key 'container' (in one)"], warnings
    assert all("stored" in w for w in warnings)
    again = post_yaml(api, source)
    assert again.status_code == 200 and again.json()["warnings"] == warnings
    assert post_yaml(api, SIMPLE).json()["warnings"] == []


def test_more_than_100_tasks(api: httpx.Client) -> None:
    tasks = "".join(f"- task_type: t{i}\n  method: SHELL\n  script: [true]\n"
                    + (f"  on_completed: t{i + 1}\n" if i < 100 else "") for i in range(101))
    response = post_yaml(api, f"job_type: big\ntasks:\n{tasks}")
    assert response.status_code == 422 and response.json()["field"] == "tasks"


def test_oversize_body(api: httpx.Client) -> None:
    response = post_yaml(api, SIMPLE + "#" * (300 * 1024))
    assert response.status_code == 413
    assert api.get("/api/jobs/definitions").json()["TotalRecords"] == 0


def test_malformed_json(api: httpx.Client) -> None:
    response = api.post("/api/jobs/definitions", content='{"job_type": ', headers={"Content-Type":
                                                                                  "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_tokens_are_required(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/api/jobs/definitions").status_code == 401
        assert anonymous.post("/api/jobs/requests", json={"job_type": "simple"}).status_code == 401
    with server.client(token="myr_wrong") as wrong:
        response = wrong.get("/api/jobs/definitions")
        assert response.status_code == 401 and "error" in response.json()
        submitted = wrong.post("/api/jobs/requests", json={"job_type": "simple"})
        assert submitted.status_code == 401 and "error" in submitted.json()


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    for path in ("/api/jobs/definitions/nope", "/api/jobs/definitions/nope/yaml",
                 "/api/jobs/definitions/nope/dot", "/api/jobs/definitions/type/nope/versions",
                 "/api/jobs/definitions/nope/configs"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert "error" in response.json()
    assert api.post("/api/jobs/definitions/nope/disable").status_code == 404
    assert api.delete("/api/jobs/definitions/nope").status_code == 404
