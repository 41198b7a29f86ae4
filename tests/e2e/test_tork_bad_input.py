"""Bad Tork bodies get Tork's 400 and its text, and nothing is stored (no definition, no request);
the server answers the next call on the same connection (spec/tork.md §0.2, §0.3, §2)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)

GOOD = "name: good\ntasks:\n  - name: t\n    run: echo ok\n"

CASES = [
    pytest.param("text/yaml", "name: x\nfoo: 1\ntasks:\n  - name: t\n    run: 'true'\n",
                 "yaml: unmarshal errors:\n  line 2: field foo not found in type input.Job", id="unknown-key"),
    pytest.param("application/json", '{"name": "x", "tasks": [{"name": "t", "bogus": 1}]}',
                 'json: unknown field "bogus"', id="unknown-json-key"),
    pytest.param("text/yaml", "name: x\ntasks:\n  - name: t\n    retry:\n      limit: 2\n      initialDelay: 1s\n",
                 "yaml: unmarshal errors:\n  line 6: field initialDelay not found in type input.Retry",
                 id="retry-initial-delay"),
    pytest.param("application/json; charset=utf-8", '{"name": "x"}',
                 "unknown content type: application/json; charset=utf-8", id="content-type-parameters"),
    pytest.param("text/plain", GOOD, "unknown content type: text/plain", id="wrong-content-type"),
    pytest.param(None, GOOD, "missing content type", id="no-content-type"),
    pytest.param("text/yaml", "name: x\ntasks:\n  - name: t\n    run: 'true'\n    retry:\n      limit: 11\n",
                 "Key: 'Job.Tasks[0].Retry.Limit' Error:Field validation for 'Limit' failed on the 'max' tag",
                 id="retry-limit-11"),
    pytest.param("text/yaml", "name: x\ntasks:\n  - name: t\n    run: 'true'\n    priority: 10\n",
                 "Key: 'Job.Tasks[0].Priority' Error:Field validation for 'Priority' failed on the 'max' tag",
                 id="priority-10"),
    pytest.param("text/yaml", "name: x\ntasks:\n  - name: t\n    run: 'true'\n    if: '{1+1}}'\n",
                 "Key: 'Job.Tasks[0].If' Error:Field validation for 'If' failed on the 'expr' tag",
                 id="expression-error"),
    pytest.param("text/yaml", "tasks:\n  - name: t\n    run: 'true'\n",
                 "Key: 'Job.Name' Error:Field validation for 'Name' failed on the 'required' tag", id="no-name"),
    pytest.param("text/yaml", "name: x\nschedule:\n  cron: '* * * * *'\ntasks:\n  - name: t\n",
                 "yaml: unmarshal errors:\n  line 2: field schedule not found in type input.Job",
                 id="schedule-on-jobs"),
    pytest.param("text/yaml", "name: [x\n", None, id="malformed-yaml"),
    pytest.param("application/json", '{"name": ', None, id="malformed-json"),
]


def _stored(api: httpx.Client) -> tuple[int, int]:
    jobs = api.get("/tork/jobs").json()["totalItems"]
    definitions = api.get("/api/jobs/definitions").json()["TotalRecords"]
    return jobs, definitions


@pytest.mark.parametrize(("content_type", "body", "message"), CASES)
def test_bad_bodies_get_torks_400_and_store_nothing(api: httpx.Client, content_type: str | None, body: str,
                                                    message: str | None) -> None:
    before = _stored(api)
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/tork/jobs", content=body.encode(), headers=headers)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert set(answer) == {"message"}
    if message is not None:
        assert answer["message"] == message
    else:
        assert answer["message"]
    assert _stored(api) == before
    ok = api.post("/tork/jobs", content=GOOD, headers={"Content-Type": "text/yaml"})
    assert ok.status_code == 200


def test_an_oversize_body_is_refused_in_torks_shape(api: httpx.Client) -> None:
    big = "name: big\ndescription: " + "x" * 300_000 + "\ntasks:\n  - name: t\n    run: echo\n"
    response = api.post("/tork/jobs", content=big, headers={"Content-Type": "text/yaml"})
    assert response.status_code == 413 and set(response.json()) == {"message"}
    assert _stored(api) == (0, 0)
