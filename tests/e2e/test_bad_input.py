"""Bad input against a running server: always a 4xx naming the field, never a crash, a hang or a 500
(issue 11 §2). Runs on SQLite, PostgreSQL and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from typing import Any

import httpx
from sqlalchemy import text

from tests.support.live import LiveServer

SIMPLE = """job_type: simple
tasks:
- task_type: one
  method: SHELL
  script: ["echo one"]
"""

# "Billion laughs": 9 levels of 9 aliases each, 409 bytes that expand to 9⁹ strings.
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
        + "job_type: bomb\ntasks:\n- task_type: one\n  method: SHELL\n  script: *i\n")


def post_yaml(api: httpx.Client, source: str) -> httpx.Response:
    return api.post("/api/jobs/definitions", content=source.encode("utf-8", "surrogatepass"),
                    headers={"Content-Type": "application/yaml"})


def post_json(api: httpx.Client, path: str, raw: str) -> httpx.Response:
    return api.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})


def refused(response: httpx.Response, field: str | None = None, *, status: int | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_a_billion_laughs_is_refused_at_once_with_flat_memory(api: httpx.Client) -> None:
    assert len(BOMB) <= 450
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    for _ in range(3):
        body = refused(post_yaml(api, BOMB), status=422)
        assert "alias" in body["error"]
    assert time.monotonic() - started < 20  # (a generous bound: expanded, the bomb would take hours)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: nothing was expanded
    assert refused(post_yaml(api, "a: &a [*a]\n" + SIMPLE))["error"].endswith("(a cycle)")
    anchored = ("job_type: anchored\ntasks:\n- <<: &shell {method: SHELL, script: &s [echo shared]}\n"
                "  task_type: one\n  on_completed: two\n- <<: *shell\n  task_type: two\n  script: *s\n")
    ok = post_yaml(api, anchored)
    assert ok.status_code == 201, ok.text  # ordinary anchors and merge keys still work
    assert [t["script"] for t in ok.json()["tasks"]] == [["echo shared"], ["echo shared"]]
    assert api.get("/api/jobs/definitions").json()["TotalRecords"] == 1


def test_documents_nested_too_deep_are_refused(api: httpx.Client) -> None:
    tasks = SIMPLE[len("job_type: simple\n"):]
    for depth in (65, 5_000, 100_000):
        body = refused(post_yaml(api, f"job_type: deep\nnest: {nested(depth)}\n{tasks}"), status=422)
        assert "nested" in body["error"]
        body = refused(post_json(api, "/api/jobs/definitions", '{"job_type": "deep", "x": ' + nested(depth) + "}"),
                       status=422)
        assert "nested" in body["error"]
        body = refused(post_json(api, "/api/jobs/requests", '{"job_type": "simple", "params": {"p": '
                                 + nested(depth) + "}}"), status=400)
        assert "nested" in body["error"]
        if depth == 65:  # within what the reader takes, the path to the value is named
            assert body["field"].startswith("params.p[0]")
    assert post_yaml(api, SIMPLE).status_code == 201
    shallow = {"job_type": "simple", "params": {"p": json.loads(nested(60))}}
    assert api.post("/api/jobs/requests", json=shallow).status_code == 201


NUMBERS = [
    # (method, path, body or None, field)
    ("GET", "/api/jobs/requests?page=99999999999999999999", None, "page"),
    ("GET", "/api/jobs/requests?page=9223372036854775807", None, "page"),
    ("GET", "/api/jobs/requests?page_size=99999999999999999999", None, "page_size"),
    ("GET", "/api/jobs/requests?page=-1", None, "page"),
    ("GET", "/api/jobs/requests?page=%C2%B9", None, "page"),  # ¹
    ("GET", "/api/jobs/requests?page=%D9%A1", None, "page"),  # Arabic-Indic one: int() would take it
    ("GET", "/api/jobs/requests?page=1_0", None, "page"),
    ("GET", "/api/jobs/definitions/simple?version=%C2%B9", None, "version"),
    ("GET", "/api/jobs/definitions/simple?version=%D9%A1", None, "version"),
    ("GET", "/api/jobs/definitions/simple?version=99999999999999999999", None, "version"),
    ("GET", "/api/jobs/definitions/simple?version=" + "9" * 5000, None, "version"),
    ("GET", "/api/jobs/definitions/simple/yaml?version=%C2%B9", None, "version"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "job_priority": 99999999999999999999}', "job_priority"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "job_priority": 9223372036854775807}', "job_priority"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "job_priority": 1e400}', "job_priority"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "job_version": "99999999999999999999"}', "job_version"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "job_version": "\u00b9"}', "job_version"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "job_version": 9999999999}', "job_version"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "params": {"n": ' + "9" * 5000 + "}}", "params.n"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "params": {"n": NaN}}', "params.n"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "params": {"n": -Infinity}}', "params.n"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "params": {"s": "\\ud800"}}', "params.s"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "params": {"\\udfff": 1}}', "params"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "params": {"s": "a\\u0000b"}}', "params.s"),
    ("POST", "/api/jobs/requests", '{"job_type": "sim\\u0007ple"}', "job_type"),
    ("POST", "/api/jobs/requests", '{"job_type": "sim\\nple"}', "job_type"),
    ("POST", "/api/jobs/requests", '{"job_type": "' + "x" * 101 + '"}', "job_type"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "platform": "' + "p" * 101 + '"}', "platform"),
    ("POST", "/api/jobs/requests", '{"job_type": "simple", "user_key": "' + "k" * 301 + '"}', "user_key"),
    ("GET", "/api/jobs/requests/{rid}/logs?after_id=%C2%B9", None, "after_id"),
    ("GET", "/api/jobs/requests/{rid}/logs?after_id=99999999999999999999", None, "after_id"),
    ("GET", "/api/jobs/requests/{rid}/logs?limit=%D9%A1", None, "limit"),
    ("PUT", "/api/jobs/definitions/simple/concurrency", '{"concurrency": 99999999999999999999}', "concurrency"),
    ("PUT", "/api/jobs/definitions/simple/concurrency", '{"concurrency": 9223372036854775807}', "concurrency"),
    ("PUT", "/api/jobs/definitions/simple/concurrency", '{"concurrency": 1e308}', "concurrency"),
    ("PUT", "/api/jobs/definitions/simple/concurrency", '{"concurrency": "\u0661"}', "concurrency"),
    ("POST", "/api/users/me/tokens", '{"token": "' + "t" * 201 + '"}', "token"),
    ("POST", "/api/users/me/tokens", '{"token": "a\\u0000b"}', "token"),
    ("POST", "/api/users/me/tokens", '{"token": "ok", "days": 1e308}', "days"),
    ("POST", "/api/users/me/tokens", '{"token": "ok", "days": "\u0661"}', "days"),
]


def test_numbers_names_and_text_out_of_range_are_refused_naming_the_field(api: httpx.Client) -> None:
    assert post_yaml(api, SIMPLE).status_code == 201
    request_id = api.post("/api/jobs/requests", json={"job_type": "simple"}).json()["id"]
    for method, path, body, field in NUMBERS:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        response = api.request(method, path.replace("{rid}", request_id),
                               content=body.encode() if body is not None else None, headers=headers)
        refused(response, field)
    assert api.get("/api/jobs/requests").json()["TotalRecords"] == 1
    assert api.get("/api/jobs/definitions/simple?version=1").status_code == 200


DEFINITION_NUMBERS = [
    ("timeout: .inf", "timeout"),
    ("timeout: -.inf", "timeout"),
    ("timeout: .nan", "timeout"),
    ("timeout: -5s", "timeout"),
    ("timeout: -5", "timeout"),
    ("timeout: 99999999999999999999h", "timeout"),
    ("timeout: 2562047h", None),  # Go's longest duration is about 2562047h47m
    ("timeout: 2562048h", "timeout"),
    ("retry: 99999999999999999999", "retry"),
    ("retry: 9223372036854775807", "retry"),
    ("max_concurrency: 9999999999", "max_concurrency"),
    ("retry: " + "9" * 5000, "retry"),
    ("delay_between_retries: 1e400", "delay_between_retries"),
    ('description: "\\ud800"', "description"),
]


def test_numbers_in_definitions_are_bounded(api: httpx.Client) -> None:
    for line, field in DEFINITION_NUMBERS:
        response = post_yaml(api, SIMPLE.replace("job_type: simple\n", f"job_type: simple\n{line}\n"))
        if field is None:
            assert response.status_code == 201, (line, response.text)
        else:
            body = refused(response, field)
            assert body["field"] == field, (line, body)
    for line in ("  timeout: -1s", "  timeout: .inf", "  delay_between_retries: -3m"):
        body = refused(post_yaml(api, SIMPLE.replace('  method: SHELL\n', f"  method: SHELL\n{line}\n")))
        assert body.get("task") == "one" or body["field"] == "tasks[0].timeout", body
    for job_type in ("bad\\u0007type", "bad\\ttype", "bad\\u0000type"):
        refused(post_yaml(api, SIMPLE.replace("job_type: simple", f'job_type: "{job_type}"')), "job_type")
    refused(post_yaml(api, SIMPLE.replace("task_type: one", 'task_type: "o\\u001bne"')), "task_type")


def _store_params(server: LiveServer, request_id: str, raw: str) -> bool:
    """Write a request's params column as the raw text, past the API. False if the database refuses it."""
    from myrmica.security.crypto import SecretBox
    from myrmica.store.store import open_store

    async def write() -> bool:
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            cast = "CAST(:p AS JSON)" if store.db.name == "postgresql" else ":p"
            async with store.db.begin() as conn:
                await conn.execute(text(f"UPDATE job_requests SET params = {cast} WHERE id = :id"),
                                   {"p": raw, "id": request_id})
            return True
        except Exception:  # noqa: BLE001 - PostgreSQL's json type refuses some of these texts itself
            return False
        finally:
            await store.close()

    return asyncio.run(write())


STORED = [nested(100), nested(5000), '{"n": ' + "9" * 5000 + "}", '{"n": NaN}', '{"n": 1e400}',
          '{"s": "\\ud800"}', '{"\\udfff": "key"}', "not json at all", '{"a": ' + nested(70) + "}"]


def test_params_already_stored_never_break_reading_or_listing(server: LiveServer, api: httpx.Client) -> None:
    assert post_yaml(api, SIMPLE.replace("echo one", "sleep 0")).status_code == 201
    ids = [api.post("/api/jobs/requests", json={"job_type": "simple", "params": {"i": i}}).json()["id"]
           for i in range(len(STORED))]
    stored = [raw for request_id, raw in zip(ids, STORED, strict=True) if _store_params(server, request_id, raw)]
    assert stored  # (SQLite takes them all)
    listing = api.get("/api/jobs/requests")
    assert listing.status_code == 200, listing.text
    assert listing.json()["TotalRecords"] == len(ids)
    for request_id in ids:
        response = api.get(f"/api/jobs/requests/{request_id}")
        assert response.status_code == 200, response.text
        assert isinstance(response.json()["params"], dict | list | str | None)
        assert api.get(f"/api/jobs/requests/{request_id}/logs").status_code == 200


def test_the_connection_stays_usable_after_every_error(server: LiveServer) -> None:
    transport = httpx.HTTPTransport(retries=0)
    with httpx.Client(base_url=server.url, transport=transport, timeout=30,
                      headers={"Authorization": f"Bearer {server.token}"}) as api:
        assert post_yaml(api, SIMPLE).status_code == 201
        oversize = b"x" * (server.settings.max_body_bytes + 10)
        bad_requests: list[tuple[str, str, bytes | None, dict[str, str]]] = [
            ("POST", "/api/jobs/definitions", BOMB.encode(), {"Content-Type": "application/yaml"}),
            ("POST", "/api/jobs/requests", b'{"job_type": "simple", "params": {"n": NaN}}',
             {"Content-Type": "application/json"}),
            ("POST", "/api/jobs/requests", b'{"job_type": ', {"Content-Type": "application/json"}),
            ("POST", "/api/jobs/requests", b"\xff\xfe", {"Content-Type": "application/json"}),
            ("GET", "/api/jobs/requests?page=%C2%B9", None, {}),
            ("GET", "/api/jobs/definitions/nope", None, {}),
            ("POST", "/api/jobs/definitions", oversize, {"Content-Type": "application/yaml"}),
            ("POST", "/api/jobs/requests", oversize, {"Content-Type": "application/json"}),
        ]
        for method, path, content, headers in bad_requests:
            connections: set[Any] = set()

            def remember(response: httpx.Response, seen: set[Any] = connections) -> None:
                stream = response.extensions["network_stream"]
                seen.add(stream.get_extra_info("socket").getsockname())

            api.event_hooks["response"] = [remember]
            bad = api.request(method, path, content=content, headers=headers)
            assert 400 <= bad.status_code < 500, (path, bad.status_code, bad.text)
            good = api.get("/api/jobs/definitions")
            assert good.status_code == 200
            assert len(connections) == 1, (path, "the server closed the connection after the error")
