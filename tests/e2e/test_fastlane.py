"""The Fastlane dialect (/fastlane) on a real server and a real Docker engine (spec/fastlane.md §10).

One server for the module (embedded: SQLite, the ant in the server) whose DOCKER ant maps the seed's
image ``task1`` to the local busybox test image. Skipped, saying why, when dockerd cannot start here.
"""

from __future__ import annotations

import email
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from myrmica.api.fastlane.views import CUT_NOTE
from myrmica.config import Settings
from tests.support.docker_engine import TEST_IMAGE, DockerEngine
from tests.support.jobs import wait_for
from tests.support.live import live_server
from tests.support.smtp import Inbox, smtp_inbox

SEED_PAYLOAD = {"image": "task1:latest", "command": "ls -lah", "envs": {"SMTP_SERVER": "my-smtp-server"},
                "metadata": {"username": "heynemann"}, "retries": 3}
ENDED = ("done", "failed", "timedout", "expired", "stopped")
MAX_LOG_BYTES = 256 * 1024  # per task: a flood is cut there


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as found:
        yield found


@pytest.fixture(scope="module")
def api(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory,
        inbox: tuple[Inbox, int]) -> Iterator[httpx.Client]:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=inbox[1], smtp_from="fastlane@localhost",
                        data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="fastlane-ant",
                        docker_host=docker_engine.host, docker_image_map=(f"task1={TEST_IMAGE}",),
                        work_dir=tmp_path_factory.mktemp("work"), max_log_bytes_per_task=MAX_LOG_BYTES)
    with live_server(settings) as live, live.client() as client:
        client.base_url = httpx.URL(f"{live.url}/fastlane")
        yield client


def enqueue(api: httpx.Client, task: str, **payload: Any) -> dict[str, Any]:
    response = api.post(f"/tasks/{task}/", json={"image": "task1", **payload})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def gone(engine: DockerEngine, name: str) -> None:
    """The container is removed (the ant removes it just after the execution ended)."""
    wait_for(lambda: engine.containers(f"name={name}") == [], timeout=30, what=f"{name} removed")


def ended(api: httpx.Client, task: str, job: str, execution: str, timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        shape: dict[str, Any] = api.get(f"/tasks/{task}/jobs/{job}/executions/{execution}/").json()["execution"]
        return shape if shape["status"] in ENDED else None
    return wait_for(check, timeout=timeout, what=f"execution {execution} to end")


def test_seed_payload_runs_and_every_read_route_answers(api: httpx.Client, docker_engine: DockerEngine) -> None:
    task = f"test-wrkng-{uuid.uuid4().hex[:6]}"
    out = api.post(f"/tasks/{task}", json=SEED_PAYLOAD).json()  # no trailing slash
    assert set(out) >= {"taskId", "jobId", "queueJobId", "jobUrl", "taskUrl", "executionId", "executionUrl"}
    assert out["taskUrl"].endswith(f"/fastlane/tasks/{task}/")
    assert out["jobUrl"] == f"{out['taskUrl']}jobs/{out['jobId']}/"
    job, execution = out["jobId"], out["executionId"]
    done = ended(api, task, job, execution)
    assert done["status"] == "done" and done["exitCode"] == 0 and done["image"] == "task1"
    assert "bin" in done["log"] and done["error"] == "" and done["command"] == "ls -lah"
    assert done["metadata"]["container_name"] == f"fastlane-job-{execution}"
    details = api.get(f"/tasks/{task}/job/{job}").json()  # the seed's /job/ path, no slash
    assert details["task"] == {"id": task, "url": out["taskUrl"]}
    assert details["job"]["executionCount"] == 1 and details["job"]["taskId"] == task
    meta = details["job"]["metadata"]
    assert meta["retries"] == 3 and meta["custom"] == {"username": "heynemann"} and meta["timeout"] == 1800
    assert meta["envs"] == {"SMTP_SERVER": "my-smtp-server"}
    assert details["job"]["executions"][0]["url"].endswith(f"/executions/{execution}/")
    for base in (f"/tasks/{task}/jobs/{job}", f"/tasks/{task}/jobs/{job}/executions/{execution}"):
        logs = api.get(f"{base}/logs/")
        assert logs.headers["Fastlane-Exit-Code"] == "0" and logs.text == f"{done['log']}\n-=-\n"
        assert api.get(f"{base}/stdout").text == done["log"] and api.get(f"{base}/stderr/").text == ""
    tasks = api.get("/tasks/").json()
    assert tasks["page"] == 1 and tasks["perPage"] == 10 and tasks["total"] >= 1
    assert api.get(f"/tasks/{task}/").json()["jobs"] == [{"id": job, "url": out["jobUrl"],
                                                         "createdAt": details["job"]["createdAt"]}]
    gone(docker_engine, f"fastlane-job-{execution}")  # removed once ended


def test_exit_codes_stdout_and_stderr(api: httpx.Client) -> None:
    task = f"codes-{uuid.uuid4().hex[:6]}"
    failed = enqueue(api, task, command="""sh -c 'echo "it failed" && exit 123'""")
    missing = enqueue(api, task, command="sh -c 'qwe'")
    one = ended(api, task, failed["jobId"], failed["executionId"])
    assert (one["status"], one["exitCode"], one["log"].strip(), one["error"].strip()) == \
        ("failed", 123, "it failed", "")
    two = ended(api, task, missing["jobId"], missing["executionId"])
    assert two["status"] == "failed" and two["exitCode"] == 127 and "qwe: not found" in two["error"]
    response = api.get(f"/tasks/{task}/jobs/{missing['jobId']}/logs")
    assert response.headers["Fastlane-Exit-Code"] == "127" and "\n-=-\n" in response.text


def test_retries_are_new_executions_after_a_back_off(api: httpx.Client) -> None:
    task = f"retry-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="sh -c 'echo try; exit 3'", retries=1)

    def two() -> list[dict[str, Any]] | None:
        shown: list[dict[str, Any]] = api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["executions"]
        return shown if len(shown) == 2 and all(e["status"] in ENDED for e in shown) else None

    newest, first = wait_for(two, timeout=60, what="the retry to end")
    assert first["executionId"] == out["executionId"] and first["status"] == newest["status"] == "failed"
    gap = time.mktime(time.strptime(newest["startedAt"][:19], "%Y-%m-%dT%H:%M:%S")) - \
        time.mktime(time.strptime(first["finishedAt"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert 1 <= gap <= 5  # 2 ** 1 s after the failure
    time.sleep(0.5)
    assert api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["executionCount"] == 2  # retries=1: no third


def test_schedules_stop_and_put_moves_the_schedule(api: httpx.Client) -> None:
    task = f"sched-{uuid.uuid4().hex[:6]}"
    soon = enqueue(api, task, command="echo soon", startIn="1s")
    assert soon["executionId"] is None and soon["executionUrl"] is None
    later = enqueue(api, task, command="echo later", startAt=int(time.time()) + 5000)
    job = later["jobId"]
    moved = api.put(f"/tasks/{task}/jobs/{job}", json={"image": "task1", "command": "echo moved",
                                                       "startAt": int(time.time())})
    assert moved.status_code == 200 and moved.json()["jobId"] == job

    def ran(job_id: str, text: str) -> bool:
        shown = api.get(f"/tasks/{task}/jobs/{job_id}/").json()["job"]["executions"]
        return any(e["status"] == "done" and e["log"] == text for e in shown)

    wait_for(lambda: ran(soon["jobId"], "soon\n"), timeout=60, what="the startIn job")
    wait_for(lambda: ran(job, "moved\n"), timeout=60, what="the moved job")
    statuses = sorted(e["status"] for e in api.get(f"/tasks/{task}/jobs/{job}/").json()["job"]["executions"])
    assert statuses == ["done", "stopped"]  # the +5000 s run was descheduled
    future = enqueue(api, task, command="echo never", startIn="2h")
    stop = api.post(f"/tasks/{task}/jobs/{future['jobId']}/stop").json()
    assert stop == {"taskId": task, "jobId": future["jobId"], "jobUrl": future["jobUrl"], "taskUrl": future["taskUrl"]}
    shown = api.get(f"/tasks/{task}/jobs/{future['jobId']}/").json()["job"]["executions"]
    assert [e["status"] for e in shown] == ["stopped"]


def test_execution_stop_and_retry(api: httpx.Client, docker_engine: DockerEngine) -> None:
    task = f"stop-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="sleep 600")
    base = f"/tasks/{task}/jobs/{out['jobId']}"
    wait_for(lambda: api.get(f"{base}/executions/{out['executionId']}/").json()["execution"]["status"] == "running",
             timeout=60, what="the container to run")
    stopped = api.post(f"{base}/executions/{out['executionId']}/stop/").json()
    assert stopped["execution"] == {"id": out["executionId"], "url": out["executionUrl"]}
    done = ended(api, task, out["jobId"], out["executionId"])
    assert done["status"] == "stopped" and "User stopped job execution manually." in done["error"]
    assert api.post(f"{base}/retry").status_code == 200
    assert api.get(f"{base}/").json()["job"]["executionCount"] == 2
    newest = api.get(f"{base}/").json()["job"]["executions"][0]
    api.post(f"{base}/stop/")
    assert ended(api, task, out["jobId"], newest["executionId"])["status"] == "stopped"
    gone(docker_engine, f"fastlane-job-{newest['executionId']}")


class HookServer:
    """A webhook receiver on 127.0.0.1: records each call; ``/flaky`` answers 503 the first time."""

    def __init__(self, wanted: int) -> None:
        self.got: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        calls = self.got
        arrived = self.arrived

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                calls.append({"path": self.path, "headers": dict(self.headers),
                              "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))})
                flaky_first = self.path == "/flaky" and sum(c["path"] == "/flaky" for c in calls) == 1
                self.send_response(400 if self.path == "/end" else 503 if flaky_first else 200)
                self.send_header("X-Receiver", "test")
                self.end_headers()
                self.wfile.write(b"thanks")
                if len(calls) == wanted:
                    arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> HookServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.server.shutdown()


def dispatch_log(api: httpx.Client, task: str, out: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The execution's webhookDispatch once it holds ``count`` attempts."""
    def check() -> list[dict[str, Any]] | None:
        base = f"/tasks/{task}/jobs/{out['jobId']}/executions/{out['executionId']}/"
        entries: list[dict[str, Any]] = api.get(base).json()["execution"]["metadata"].get("webhookDispatch", [])
        return entries if len(entries) == count else None
    return wait_for(check, what=f"{count} attempts in the dispatch log")


def test_webhooks_fire_on_success_and_every_attempt_is_logged(api: httpx.Client,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("myrmica.api.fastlane.hooks.HOOK_BACKOFF_SECS", 0.05)  # Fastlane's 5 s, 10 s …
    with HookServer(wanted=3) as hooks:
        task = f"hooks-{uuid.uuid4().hex[:6]}"
        out = enqueue(api, task, command="echo hooked", metadata={"who": "me"},
                      webhooks={"succeeds": [{"url": f"{hooks.url}/flaky", "headers": {"X-Token": "t"}, "retries": 1}],
                                "fails": [{"url": f"{hooks.url}/bad"}], "finishes": [{"url": f"{hooks.url}/end"}]})
        assert hooks.arrived.wait(60)
    assert sorted(call["path"] for call in hooks.got) == ["/end", "/flaky", "/flaky"]
    ok = hooks.got[-1] if hooks.got[-1]["path"] == "/flaky" else hooks.got[-2]
    assert ok["headers"]["X-Token"] == "t" and ok["body"]["status"] == "done" and ok["body"]["log"] == "hooked\n"
    assert ok["body"]["metadata"]["custom"] == {"who": "me"} and "webhookDispatch" not in ok["body"]["metadata"]
    assert ok["body"]["job_id"] == out["jobId"] and ok["body"]["executionId"] == out["executionId"]
    entries = sorted(dispatch_log(api, task, out, 3), key=lambda e: (e["url"], e["attempt"]))
    assert [(e["url"].rsplit("/", 1)[1], e["statusCode"], e["attempt"], e["state"]) for e in entries] == \
        [("end", 400, 1, "FAILED"), ("flaky", 503, 1, "PENDING"), ("flaky", 200, 2, "DELIVERED")]
    end, first, second = entries
    assert end["error"] == f'The POST request to {hooks.url}/end with body of "{json.dumps(ok["body"])[:10]}..." ' \
        "failed with status code of 400."
    assert "error" not in second and second["body"] == "thanks" and second["headers"]["X-Receiver"] == "test"
    assert first["timestamp"] <= second["timestamp"] and first["timestamp"].startswith(time.strftime("%Y-%m-%d",
                                                                                                      time.gmtime()))
    shown = api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["executions"][0]
    assert len(shown["metadata"]["webhookDispatch"]) == 3
    meta = api.get(f"/tasks/{task}/jobs/{out['jobId']}/").json()["job"]["metadata"]
    assert meta["webhooks"]["succeeds"] == [{"url": f"{hooks.url}/flaky", "headers": {"X-Token": "t"}, "retries": 1}]


def test_webhooks_of_a_failure_and_an_unreachable_hook(api: httpx.Client) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    with HookServer(wanted=2) as hooks:
        task = f"hookfail-{uuid.uuid4().hex[:6]}"
        out = enqueue(api, task, command="sh -c 'echo broke >&2; exit 4'",
                      webhooks={"succeeds": [{"url": f"{hooks.url}/ok"}], "fails": [{"url": f"{hooks.url}/bad"}],
                                "finishes": [{"url": f"{hooks.url}/all"}, {"url": nowhere}]})
        assert hooks.arrived.wait(60)
    assert sorted(call["path"] for call in hooks.got) == ["/all", "/bad"]  # not succeeds
    body = hooks.got[0]["body"]
    assert (body["status"], body["exitCode"], body["error"]) == ("failed", 4, "broke\n")
    entries = dispatch_log(api, task, out, 3)
    unreachable = next(e for e in entries if e["url"] == nowhere)
    assert unreachable["statusCode"] == 500 and unreachable["state"] == "FAILED"  # no answer: 500, as Fastlane
    assert unreachable["error"].startswith(f'The POST request to {nowhere} with body of "')
    assert " failed with exception of " in unreachable["error"]


def test_bad_input_is_400_with_fastlane_texts_and_nothing_stored(api: httpx.Client) -> None:
    task = f"bad-{uuid.uuid4().hex[:6]}"
    cases = [(b"", "Failed to enqueue task because JSON body could not be parsed."),
             (b"{not json", "Failed to enqueue task because JSON body could not be parsed."),
             (b'{"image": "task1"}', "image and command must be filled in the request."),
             (b'{"image": "task1", "command": "true", "startIn": "1s", "cron": "* * * * *"}',
              "Only ONE of 'startAt', 'startIn' and 'cron' should be in the request.")]
    for body, text in cases:
        response = api.post(f"/tasks/{task}/", content=body)
        assert (response.status_code, response.text) == (400, text)
    response = api.put(f"/tasks/{task}/jobs/not-a-uuid/", json={"image": "task1", "command": "true"})
    assert (response.status_code, response.text) == \
        (400, "The job_id not-a-uuid is not a valid UUID4. All job IDs must be UUID4.")
    assert api.get(f"/tasks/{task}/").json() == {"error": "Task not found.", "operation": "get_task"}
    job = str(uuid.uuid4())
    assert api.get(f"/tasks/{task}/jobs/{job}/").json() == {"error": "Job not found in task.", "operation": "get_task"}
    assert api.get("/tasks/?page=0").status_code == 400


def test_healthcheck_and_status(api: httpx.Client) -> None:
    health = api.get("/healthcheck")
    assert health.status_code == 200 and health.json() == {"redis": True, "mongo": True, "errors": []}
    status = api.get("/status/").json()
    assert status["hosts"][0]["host"] == "fastlane-ant" and status["hosts"][0]["available"] is True
    assert "running" in status["containers"]


def test_websocket_streams_a_running_container_then_says_done(api: httpx.Client) -> None:
    task = f"ws-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="sh -c 'echo one; sleep 2; echo two >&2'")
    base = f"/tasks/{task}/jobs/{out['jobId']}"
    wait_for(lambda: api.get(f"{base}/executions/{out['executionId']}/").json()["execution"]["status"] == "running",
             timeout=60, what="the container to run")
    root = str(api.base_url).rstrip("/").replace("http://", "ws://")
    url = f"{root}{base}/ws"
    headers = {"Authorization": api.headers["Authorization"]}
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        received = "".join(str(message) for message in socket)
        reason = socket.close_reason
    assert received == "one\ntwo\nEXIT CODE: 0\n"  # live lines, then the exit code (not the lines again)
    assert reason == "done"
    with connect(f"{root}{base}/executions/{out['executionId']}/ws/", additional_headers=headers,
                 open_timeout=10) as socket:
        assert "".join(str(m) for m in socket) == "EXIT CODE: 0\none\n\n-=-\ntwo\n"
    page = api.get(f"{base}/stream/")
    assert page.status_code == 200 and f"{base}/ws/" in page.text and "text/html" in page.headers["content-type"]


def test_an_execution_picked_up_after_its_expiration_expires_without_running(api: httpx.Client,
                                                                             docker_engine: DockerEngine) -> None:
    task = f"exp-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="echo never", expiration=int(time.time()) - 10)
    shape = ended(api, task, out["jobId"], out["executionId"])
    assert shape["status"] == "expired" and shape["log"] == "" and shape["exitCode"] is None
    assert shape["error"].startswith("Job was supposed to be done before ")
    assert ", but was started at " in shape["error"]
    assert docker_engine.containers(f"name=fastlane-job-{out['executionId']}") == []


def test_blacklist_api_and_status(api: httpx.Client) -> None:
    path = "/docker-executor/blacklist"
    for method, verb in (("POST", "add host to"), ("DELETE", "remove host from")):
        response = api.request(method, path, content=b"nope")
        assert (response.status_code, response.text) == \
            (400, f"Failed to {verb} blacklist because JSON body could not be parsed.")
        response = api.request(method, path, json={"other": 1})
        assert (response.status_code, response.text) == \
            (400, f"Failed to {verb} blacklist because 'host' attribute was not found in JSON body.")
    added = api.put(path, json={"host": "fastlane-ant"})
    assert (added.status_code, added.text) == (200, "")
    assert api.get("/status/").json()["hosts"][0]["blacklisted"] is True
    assert api.request("DELETE", f"{path}/", json={"host": "fastlane-ant"}).status_code == 200
    assert api.get("/status").json()["hosts"][0]["blacklisted"] is False


def test_timeout_and_a_flood_are_bounded_and_killed(api: httpx.Client, docker_engine: DockerEngine) -> None:
    task = f"bounds-{uuid.uuid4().hex[:6]}"
    sleeper = enqueue(api, task, command="sleep 600", timeout=1)
    flood = enqueue(api, task, command="yes megabytes-of-output", timeout=3)
    slept = ended(api, task, sleeper["jobId"], sleeper["executionId"])
    assert slept["status"] == "timedout" and slept["exitCode"] is None
    flooded = ended(api, task, flood["jobId"], flood["executionId"])
    assert flooded["status"] == "timedout" and len(flooded["log"]) < 64 * 1024 * 1024
    for out in (sleeper, flood):
        gone(docker_engine, f"fastlane-job-{out['executionId']}")



def test_a_container_flooding_stdout_is_truncated_and_the_ant_takes_the_next(api: httpx.Client) -> None:
    task = f"flood-{uuid.uuid4().hex[:6]}"
    flood = enqueue(api, task, command="sh -c 'yes | head -c 5000000; echo flooded-to-the-end'")
    shape = ended(api, task, flood["jobId"], flood["executionId"])
    assert shape["status"] == "done" and shape["exitCode"] == 0, shape["error"]
    base = f"/tasks/{task}/jobs/{flood['jobId']}/executions/{flood['executionId']}"
    log = api.get(f"{base}/stdout/").text  # the whole stored log, streamed from the store
    assert len(log) <= MAX_LOG_BYTES and log.startswith("y\ny\n") and "flooded-to-the-end" not in log
    *kept, notice, marker = log.splitlines()
    assert set(kept) == {"y"} and len(kept) > MAX_LOG_BYTES // 20
    assert re.fullmatch(r"\[log truncated after \d+ bytes: further output is dropped\]", notice), notice
    assert re.fullmatch(r"\[log truncated after \d+ bytes: … (\d+) bytes dropped\]", marker), marker
    dropped = int(marker.split("… ")[1].split()[0])
    assert 5_000_019 - MAX_LOG_BYTES <= dropped <= 5_000_019 - 2 * len(kept)
    # The JSON holds a bounded excerpt and says where the rest is; the logs route has it all.
    assert shape["log"].splitlines() == ["y"] * 2000 + [CUT_NOTE]
    assert api.get(f"{base}/logs").text == f"{log}\n-=-\n"
    after = enqueue(api, task, command="echo still-alive")  # the same ant, still taking work
    assert ended(api, task, after["jobId"], after["executionId"])["log"] == "still-alive\n"
    assert api.get("/status/").json()["hosts"][0]["available"] is True


def test_a_live_reader_of_a_flood_is_told_of_the_cut_while_it_runs(api: httpx.Client) -> None:
    task = f"liveflood-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="sh -c 'yes | head -c 2000000; sleep 600'")
    base = f"/tasks/{task}/jobs/{out['jobId']}/executions/{out['executionId']}"
    wait_for(lambda: api.get(f"{base}/").json()["execution"]["status"] == "running", timeout=60,
             what="the container to run")
    url = str(api.base_url).rstrip("/").replace("http://", "ws://") + f"{base}/ws/"
    with connect(url, additional_headers={"Authorization": api.headers["Authorization"]},
                 open_timeout=10) as socket:
        seen: list[str] = []
        for message in socket:
            seen.append(str(message))
            if str(message).startswith("[log truncated after "):
                break
        status = api.get(f"{base}/").json()["execution"]["status"]
        api.post(f"{base}/stop/")
        rest = "".join(str(message) for message in socket)
        reason = socket.close_reason
    assert status == "running"  # the cut was said while the container still printed
    assert seen[-1].endswith("bytes: further output is dropped]\n") and set(seen[:-1]) == {"y\n"}
    assert sum(len(text) for text in seen) <= MAX_LOG_BYTES
    assert rest == "EXIT CODE: None\nUser stopped job execution manually.\n" and reason == "done"


def test_notify_mails_on_success_and_on_finish(api: httpx.Client, inbox: tuple[Inbox, int]) -> None:
    mails, _ = inbox
    task = f"mail-{uuid.uuid4().hex[:6]}"
    out = enqueue(api, task, command="echo mailed",
                  notify={"succeeds": ["ok@example.com"], "fails": ["bad@example.com"],
                          "finishes": ["all@example.com"]})
    name = f"{task}/{out['jobId']}"
    def two() -> list[str] | None:
        found = [m for m in mails.messages if name in m]
        return found if len(found) == 2 else None

    ours = [email.message_from_string(m) for m in wait_for(two, what="two e-mails")]
    by_to = {str(m["To"]): m for m in ours}
    assert set(by_to) == {"ok@example.com", "all@example.com"}  # not fails
    assert " ".join(str(by_to["ok@example.com"]["Subject"]).split()) == f"[Fastlane] Job {name} succeeded!"
    assert " ".join(str(by_to["all@example.com"]["Subject"]).split()) == \
        f"[Fastlane] Job {name} finished with exit code 0!"
    text = str(by_to["ok@example.com"].get_payload(decode=True).decode()).replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.startswith("Automatic message. Please do not reply to this!\n\n")
    shown = json.loads(text.split("\n\n", 1)[1])
    assert (shown["executionId"], shown["status"], shown["log"]) == (out["executionId"], "done", "mailed\n")
