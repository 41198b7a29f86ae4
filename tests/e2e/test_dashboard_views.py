"""The dashboard's pages over HTTP (httpx against a live server): login, CSRF, tenancy, the live pieces.

The browser tests (test_dashboard_browser.py) drive the same pages in Chromium; these check what a
browser cannot easily show: cookies' attributes, refusals, what another tenant gets, and the SSE stream.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ulid import ULID

from myrmica.config import Settings
from tests.e2e.test_cli import command, env
from tests.support.dashboard import Browserish, make_user, signed_in
from tests.support.jobs import apply, run, submit, wait_state
from tests.support.live import LiveServer, live_server

PAGES = ["/", "/requests", "/definitions", "/ants", "/artifacts", "/artifacts/01J00000000000000000000000/download",
         "/requests/rows", "/definitions/hello", "/ants/live",
         "/requests/01J00000000000000000000000", "/requests/01J00000000000000000000000/logs/stream"]

ECHO = """job_type: {name}
description: says {word}
required_params: [Word]
tasks:
- task_type: say
  method: SHELL
  script:
    - echo "said {{{{ .Word }}}}"
    - echo "::set-output name=Said::{{{{ .Word }}}}"
"""


def settings(tmp: pytest.TempPathFactory, **changes: object) -> Settings:
    base = Settings(data_dir=tmp.mktemp("data"), database_url=f"sqlite:///{tmp.mktemp('db') / 'myrmica.db'}",
                    admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(settings(tmp_path_factory)) as live:
        yield live


@pytest.fixture
def admin_api(web: LiveServer) -> Iterator[httpx.Client]:
    with web.client() as client:
        yield client


@pytest.fixture
def browser(web: LiveServer) -> Iterator[Browserish]:
    session = signed_in(web)
    try:
        yield session
    finally:
        session.client.close()


def echo_job(api: httpx.Client) -> str:
    name = f"echo-{uuid.uuid4().hex[:8]}"
    apply(api, ECHO.format(name=name, word="hi"))
    return name


# --- signing in ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_login(web: LiveServer, path: str) -> None:
    answer = httpx.get(f"{web.url}{path}", timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
    with_token = httpx.get(f"{web.url}{path}", headers={"Authorization": f"Bearer {web.token}"}, timeout=30)
    assert with_token.status_code == 303  # the pages take the cookie, not the API's header
    htmx = httpx.get(f"{web.url}{path}", headers={"HX-Request": "true"}, timeout=30)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/login?next=")


def test_login_sets_http_only_strict_cookies_and_logout_clears_them(web: LiveServer) -> None:
    session = Browserish(httpx.Client(base_url=web.url, timeout=30))
    form = session.get("/login")
    assert form.status_code == 200 and 'type="password"' in form.text
    assert "httponly" in form.headers["set-cookie"].lower() and "samesite=strict" in form.headers["set-cookie"].lower()
    answer = session.post("/login", {"token": web.token, "next": "/definitions"})
    assert answer.status_code == 303 and answer.headers["location"] == "/definitions"
    cookies = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("myrmica_session="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie and "Path=/" in session_cookie
    assert "Secure" not in session_cookie  # plain http on 127.0.0.1
    page = session.get("/definitions")
    assert page.status_code == 200 and "Signed in as" in page.text and "admin" in page.text
    out = session.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert session.get("/definitions").status_code == 303


def test_a_bad_token_is_refused_without_a_session(web: LiveServer) -> None:
    session = Browserish(httpx.Client(base_url=web.url, timeout=30))
    session.get("/login")
    answer = session.post("/login", {"token": "myr_not_a_real_token"})
    assert answer.status_code == 401 and "not valid" in answer.text
    assert "myrmica_session" not in answer.headers.get("set-cookie", "")
    assert session.get("/requests").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_goes_only_to_a_path_of_this_site(web: LiveServer, target: str) -> None:
    session = Browserish(httpx.Client(base_url=web.url, timeout=30))
    session.get("/login")
    answer = session.post("/login", {"token": web.token, "next": target})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_a_revoked_token_ends_its_session(web: LiveServer, admin_api: httpx.Client) -> None:
    made = admin_api.post("/api/users/me/tokens", json={"token": f"web-{uuid.uuid4().hex[:6]}"}).json()
    session = signed_in(web, made["api_token"])
    assert session.get("/requests").status_code == 200
    assert admin_api.delete(f"/api/users/me/tokens/{made['id']}").status_code == 200
    assert session.get("/requests").status_code == 303


def _password_sign_in(web: LiveServer, username: str, password: str) -> tuple[Browserish, httpx.Response]:
    session = Browserish(httpx.Client(base_url=web.url, timeout=30))
    session.get("/login")
    return session, session.post("/login", {"method": "password", "username": username, "password": password,
                                            "next": "/ants"})


def test_sign_in_with_a_username_and_password(web: LiveServer, admin_api: httpx.Client) -> None:
    name = f"pw-{uuid.uuid4().hex[:6]}"
    user = make_user(web, name, None)
    own = httpx.Client(base_url=web.url, timeout=30, headers={"Authorization": f"Bearer {user.token}"})
    with own:
        # No password yet: the form refuses the user, as it does a wrong password (same words, no cookie).
        _, refused = _password_sign_in(web, name, "correct horse battery")
        assert refused.status_code == 401 and "Wrong username or password" in refused.text
        assert "myrmica_session" not in refused.headers.get("set-cookie", "")
        assert own.put("/api/users/me/password", json={"password": "short"}).status_code == 422
        assert own.put("/api/users/admin/password", json={"password": "long enough, surely"}).status_code == 403
        set_own = own.put("/api/users/me/password", json={"password": "correct horse battery"})
        assert set_own.status_code == 200, set_own.text
        assert set_own.json() == {"id": user.user_id, "username": name, "has_password": True}
        assert "correct horse" not in set_own.text

        session, answer = _password_sign_in(web, name, "correct horse battery")
        assert answer.status_code == 303 and answer.headers["location"] == "/ants", answer.text
        cookie = answer.headers["set-cookie"]
        assert "myrmica_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert user.token not in cookie  # a session token of its own, not one of the user's API tokens
        page = session.get("/requests")
        assert page.status_code == 200 and f"Signed in as <strong>{name}</strong>" in page.text
        tokens = own.get("/api/users/me/tokens").json()
        assert [t["token_name"] for t in tokens if not t["revoked"]].count("dashboard sign-in") == 1

        _, wrong = _password_sign_in(web, name, "correct horse battery!")
        assert wrong.status_code == 401 and f'value="{name}"' in wrong.text  # the name stays in the form
        # The admin sets the password by username: the user's sessions end, the old password is refused.
        by_admin = admin_api.put(f"/api/users/{name}/password", data={"password": "a new one, longer"})
        assert by_admin.status_code == 200, by_admin.text
        assert session.get("/requests").status_code == 303
        assert _password_sign_in(web, name, "correct horse battery")[1].status_code == 401
        again, fresh = _password_sign_in(web, name, "a new one, longer")
        assert fresh.status_code == 303
        stolen = next(v for k, v in again.client.cookies.items() if k == "myrmica_session")
        assert again.get("/requests").status_code == 200  # (a page, for the new session's CSRF token)
        assert again.post("/logout").status_code == 303  # signing out revokes the session's token
        replay = httpx.get(f"{web.url}/requests", cookies={"myrmica_session": stolen}, timeout=30)
        assert replay.status_code == 303
        assert own.get("/api/users/me/tokens").status_code == 200  # the user's own API token is untouched
    assert admin_api.put("/api/users/nobody-at-all/password", json={"password": "whatever it is"}).status_code == 404
    assert admin_api.put("/api/users/me/password", json={}).status_code == 422


def test_signing_out_of_a_token_session_keeps_the_token(web: LiveServer) -> None:
    session = signed_in(web)
    assert session.get("/requests").status_code == 200
    assert session.post("/logout").status_code == 303
    assert httpx.get(f"{web.url}/api/jobs/requests", headers={"Authorization": f"Bearer {web.token}"},
                     timeout=30).status_code == 200


def test_the_cli_sets_a_password(web: LiveServer) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    make_user(web, name, None)
    result = subprocess.run(command(web, "users", "set-password", name), input="typed on stdin\n",
                            capture_output=True, text=True, timeout=60, env=env())
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert f"set the password of {name}" in result.stdout
    assert _password_sign_in(web, name, "typed on stdin")[1].status_code == 303
    short = subprocess.run(command(web, "users", "set-password"), input="short\n", capture_output=True,
                           text=True, timeout=60, env=env())
    assert short.returncode == 1 and "at least 8 characters" in short.stderr, short.stderr


# --- CSRF ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("csrf", ["", "forged-token-value-that-is-long-enough-000"])
def test_forms_without_the_sessions_csrf_token_are_refused(web: LiveServer, browser: Browserish,
                                                           admin_api: httpx.Client, csrf: str) -> None:
    name = echo_job(admin_api)
    for path in (f"/definitions/{name}/disable", f"/definitions/{name}/submit", "/logout", "/definitions"):
        answer = browser.post(path, {"csrf": csrf, "param:Word": "x", "source": "job_type: x"})
        assert answer.status_code == 403 and "another site" in answer.text, path
    assert admin_api.get(f"/api/jobs/definitions/{name}").json()["disabled"] is False
    assert admin_api.get("/api/jobs/requests", params={"job_type": name}).json()["TotalRecords"] == 0
    assert browser.get("/requests").status_code == 200  # still signed in


# --- definitions --------------------------------------------------------------------------------

def test_definitions_list_search_and_page(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    listing = browser.get("/definitions")
    assert listing.status_code == 200 and f'href="/definitions/{name}"' in listing.text
    assert "formicary" in listing.text  # the dialect label
    found = browser.get("/definitions", params={"q": name.upper()})
    assert f'href="/definitions/{name}"' in found.text and "1 definition " in found.text
    assert "No definitions match" in browser.get("/definitions", params={"q": "no-such-thing-xyz"}).text
    assert browser.get("/definitions", params={"page": "x"}).status_code == 400

    page = browser.get(f"/definitions/{name}")
    assert page.status_code == 200
    assert "<svg" in page.text and 'role="img"' in page.text and "Task graph of" in page.text
    assert 'name="param:Word"' in page.text and "version 1" in page.text


def test_upload_through_the_page_makes_versions(browser: Browserish, admin_api: httpx.Client) -> None:
    browser.get("/definitions")
    name = f"upload-{uuid.uuid4().hex[:8]}"
    created = browser.post("/definitions", {"source": ECHO.format(name=name, word="one")})
    assert created.status_code == 303 and created.headers["location"] == f"/definitions/{name}?notice=created"
    again = browser.post("/definitions", {"source": ECHO.format(name=name, word="one")})
    assert again.headers["location"].endswith("notice=unchanged")
    browser.post("/definitions", {"source": ECHO.format(name=name, word="two")})
    page = browser.get(f"/definitions/{name}")
    assert "says two" in page.text and f'href="/definitions/{name}?version=1"' in page.text
    old = browser.get(f"/definitions/{name}", params={"version": "1"})
    assert "says one" in old.text and "not the active one" in old.text
    assert admin_api.get(f"/api/jobs/definitions/{name}").json()["version"] == 2
    warned = browser.post("/definitions", {"source": "tags: ignored\n" + ECHO.format(name=name, word="three")})
    assert warned.status_code == 201 and "job key &#39;tags&#39;: derived from the tasks" in warned.text


def test_a_bad_upload_says_why_and_keeps_the_text(browser: Browserish) -> None:
    browser.get("/definitions")
    answer = browser.post("/definitions", {"source": "job_type: broken\ntasks:\n- task_type: a\n  method: SHELL\n"
                                                     "  scripts: [x]\n"})
    assert answer.status_code == 422
    assert "did you mean" in answer.text and "scripts: [x]" in answer.text


def test_disable_and_enable(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    browser.get(f"/definitions/{name}")
    assert browser.post(f"/definitions/{name}/disable").status_code == 303
    assert admin_api.get(f"/api/jobs/definitions/{name}").json()["disabled"] is True
    page = browser.get(f"/definitions/{name}")
    assert "disabled" in page.text and ">Enable<" in page.text and "Submit a request" not in page.text
    assert browser.post(f"/definitions/{name}/enable").status_code == 303
    assert admin_api.get(f"/api/jobs/definitions/{name}").json()["disabled"] is False


def test_submit_with_params(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    browser.get(f"/definitions/{name}")
    missing = browser.post(f"/definitions/{name}/submit", {"param:Word": "", "params": "Extra=1"})
    assert missing.status_code == 422 and "missing required params: Word" in missing.text
    assert "Extra=1" in missing.text  # the form keeps what was typed
    bad_line = browser.post(f"/definitions/{name}/submit", {"param:Word": "x", "params": "no equals sign"})
    assert bad_line.status_code == 422 and "line 1" in bad_line.text
    done = browser.post(f"/definitions/{name}/submit", {"param:Word": "hello", "params": "Extra=a=b\n",
                                                        "job_priority": "5"})
    assert done.status_code == 303
    request_id = done.headers["location"].split("/")[2].split("?")[0]
    body = wait_state(admin_api, request_id, "COMPLETED")
    assert body["params"] == {"Word": "hello", "Extra": "a=b"} and body["job_priority"] == 5


def test_graphviz_missing_is_said_plainly(tmp_path_factory: pytest.TempPathFactory) -> None:
    with live_server(settings(tmp_path_factory, graphviz_dot="/nonexistent/dot")) as live:
        with live.client() as api:
            name = echo_job(api)
        page = signed_in(live).get(f"/definitions/{name}")
        assert page.status_code == 200 and "<svg" not in page.text
        assert "Graphviz is not installed on the server" in page.text


# --- requests -----------------------------------------------------------------------------------

def test_request_page_shows_tasks_outputs_and_the_dialect(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    done = run(admin_api, name, {"Word": "wow"})
    page = browser.get(f"/requests/{done['id']}")
    assert page.status_code == 200
    assert 'id="request-state">COMPLETED<' in page.text and "formicary" in page.text
    assert "Said=wow" in page.text and 'id="task-say"' in page.text
    assert 'fill="palegreen"' in page.text  # the graph coloured by the task's state
    assert "hx-trigger" not in page.text.split('id="live"')[1].split(">")[0]  # an ended request stops polling
    text = browser.get(f"/requests/{done['id']}/logs.txt")
    assert text.status_code == 200 and "said wow" in text.text


def test_a_tork_job_shows_in_the_same_views_labelled_tork(browser: Browserish, admin_api: httpx.Client) -> None:
    name = f"tork-{uuid.uuid4().hex[:6]}"
    job = admin_api.post("/tork/jobs", content=f"name: {name}\ntasks:\n  - name: say\n    run: echo said by tork\n",
                         headers={"Content-Type": "text/yaml"})
    assert job.status_code == 200, job.text
    request_id = str(ULID.from_hex(job.json()["id"]))
    wait_state(admin_api, request_id, "COMPLETED")
    listing = browser.get("/requests", params={"q": request_id})
    row = listing.text[listing.text.index(f">{request_id}<"):].split("</tr>")[0]
    assert ">tork<" in row, row  # the dialect label, beside the native requests in the same list
    page = browser.get(f"/requests/{request_id}")
    assert page.status_code == 200 and 'id="request-state">COMPLETED<' in page.text and ">tork<" in page.text
    assert "<svg" in page.text and 'fill="palegreen"' in page.text
    assert "said by tork" in browser.get(f"/requests/{request_id}/logs.txt").text


def test_live_pieces_answer_204_while_nothing_changed(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    done = run(admin_api, name, {"Word": "same"})
    first = browser.get(f"/requests/{done['id']}/live")
    digest = re.search(r'data-digest="([0-9a-f]+)"', first.text)
    assert first.status_code == 200 and digest is not None
    assert browser.get(f"/requests/{done['id']}/live", params={"seen": digest.group(1)}).status_code == 204
    assert browser.get(f"/requests/{done['id']}/live", params={"seen": "0" * 16}).status_code == 200
    rows = browser.get("/requests/rows", headers={"HX-Request": "true", "HX-Trigger": "request-rows"})
    seen = re.search(r'data-digest="([0-9a-f]+)"', rows.text)
    assert seen is not None and "hx-push-url" not in {k.lower() for k in rows.headers}
    again = browser.get("/requests/rows", params={"seen": seen.group(1)},
                        headers={"HX-Request": "true", "HX-Trigger": "request-rows"})
    assert again.status_code == 204


def test_request_list_filters_by_state(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    done = run(admin_api, name, {"Word": "a"})
    waiting = submit(admin_api, name, {"Word": "b"}, scheduled_at="2099-01-01T00:00:00Z")
    completed = browser.get("/requests", params={"state": "COMPLETED", "job_type": name})
    assert done["id"] in completed.text and waiting["id"] not in completed.text
    pending = browser.get("/requests/rows", params={"state": "PENDING", "job_type": name},
                          headers={"HX-Request": "true"})
    assert waiting["id"] in pending.text and done["id"] not in pending.text
    assert pending.headers["hx-push-url"] == f"/requests?state=PENDING&job_type={name}"
    both = browser.get("/requests", params=[("state", "PENDING"), ("state", "COMPLETED"), ("job_type", name)])
    assert waiting["id"] in both.text and done["id"] in both.text
    admin_api.post(f"/api/jobs/requests/{waiting['id']}/cancel")


def test_the_log_stream_sends_lines_then_the_end_and_resumes_after_an_id(browser: Browserish,
                                                                         admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    done = run(admin_api, name, {"Word": "streamed"})

    def events(**headers: str) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = []
        event_id = event = ""
        with browser.client.stream("GET", f"/requests/{done['id']}/logs/stream", headers=headers) as answer:
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
            for raw in answer.iter_lines():
                if raw.startswith("id: "):
                    event_id = raw[4:]
                elif raw.startswith("event: "):
                    event = raw[7:]
                elif raw.startswith("data: "):
                    found.append((event_id, event, raw[6:]))
        return found

    every = events()
    lines = [json.loads(data)["line"] for _, event, data in every if event == "log"]
    assert lines == ["said streamed", "::set-output name=Said::streamed"]
    assert every[-1][1] == "end" and json.loads(every[-1][2]) == {"job_state": "COMPLETED"}
    resumed = events(**{"Last-Event-ID": every[0][0]})
    assert [json.loads(data)["line"] for _, event, data in resumed if event == "log"] == lines[1:]


def test_cancel_pause_restart_and_their_refusals(browser: Browserish, admin_api: httpx.Client) -> None:
    name = echo_job(admin_api)
    waiting = submit(admin_api, name, {"Word": "later"}, scheduled_at="2099-01-01T00:00:00Z")
    browser.get(f"/requests/{waiting['id']}")
    refused = browser.post(f"/requests/{waiting['id']}/pause")
    assert refused.status_code == 409 and "only an EXECUTING request can be paused" in refused.text
    assert browser.post(f"/requests/{waiting['id']}/cancel").status_code == 303
    assert admin_api.get(f"/api/jobs/requests/{waiting['id']}").json()["job_state"] == "CANCELLED"
    page = browser.get(f"/requests/{waiting['id']}", params={"notice": "cancelled"})
    assert "Cancelled." in page.text and 'id="restart"' in page.text and 'id="cancel"' not in page.text
    assert browser.post(f"/requests/{waiting['id']}/restart").status_code == 303
    assert admin_api.get(f"/api/jobs/requests/{waiting['id']}").json()["job_state"] in ("PENDING", "READY",
                                                                                        "EXECUTING", "COMPLETED")


SLEEPER = """job_type: {name}
tasks:
- task_type: nap
  method: SHELL
  timeout: 120s
  script:
    - echo napping
    - sleep 100
"""


def test_pause_a_running_request(browser: Browserish, admin_api: httpx.Client) -> None:
    name = f"nap-{uuid.uuid4().hex[:8]}"
    apply(admin_api, SLEEPER.format(name=name))
    running = submit(admin_api, name)
    wait_state(admin_api, running["id"], "EXECUTING")
    page = browser.get(f"/requests/{running['id']}")
    assert 'id="pause"' in page.text and 'id="cancel"' in page.text
    answer = browser.post(f"/requests/{running['id']}/pause")
    assert answer.status_code == 303 and answer.headers["location"].endswith("notice=paused")
    assert admin_api.get(f"/api/jobs/requests/{running['id']}").json()["job_state"] == "PAUSED"
    paused = browser.get(f"/requests/{running['id']}", params={"notice": "paused"})
    assert "Resumes at" in paused.text and 'id="restart"' in paused.text and 'id="pause"' not in paused.text
    assert browser.post(f"/requests/{running['id']}/cancel").status_code == 303
    wait_state(admin_api, running["id"], "CANCELLED")


def test_reject_needs_comments_then_ends_the_request(browser: Browserish, admin_api: httpx.Client) -> None:
    apply(admin_api, (Path(__file__).resolve().parents[2] / "examples" / "approval.yaml").read_text())
    waiting = submit(admin_api, "approval")
    wait_state(admin_api, waiting["id"], "MANUAL_APPROVAL_REQUIRED")
    page = browser.get(f"/requests/{waiting['id']}")
    assert "approve-release awaits approval" in page.text
    vote = f"/requests/{waiting['id']}/tasks/approve-release/vote"
    bare = browser.post(vote, {"decision": "REJECTED", "comments": " "})
    assert bare.status_code == 422 and "a rejection needs comments" in bare.text
    assert browser.post(vote, {"decision": "MAYBE"}).status_code == 422
    assert browser.post(f"/requests/{waiting['id']}/tasks/no-such-task/vote",
                        {"decision": "APPROVED"}).status_code == 404
    rejected = browser.post(vote, {"decision": "REJECTED", "comments": "not today"})
    assert rejected.status_code == 303 and rejected.headers["location"].endswith("notice=REJECTED")
    ended = wait_state(admin_api, waiting["id"], "FAILED")
    assert ended["error_code"] == "ERR_MANUAL_REJECTION"
    assert "Your rejection is recorded." in browser.get(rejected.headers["location"]).text


# --- tenancy ------------------------------------------------------------------------------------

def test_another_tenant_sees_none_of_it(web: LiveServer, admin_api: httpx.Client) -> None:
    owner = make_user(web, f"o-{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}")
    other = make_user(web, f"x-{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}")
    with web.client(owner.token) as owner_api:
        name = echo_job(owner_api)
        done = run(owner_api, name, {"Word": "private-word-8Q"})
    mine, theirs = signed_in(web, owner.token), signed_in(web, other.token)
    assert name in mine.get("/definitions").text and done["id"] in mine.get("/requests").text
    assert "private-word-8Q" in mine.get(f"/requests/{done['id']}").text
    for path in (f"/definitions/{name}", f"/requests/{done['id']}", f"/requests/{done['id']}/live",
                 f"/requests/{done['id']}/logs/stream", f"/requests/{done['id']}/logs.txt"):
        answer = theirs.get(path)
        assert answer.status_code == 404, path
        assert "private-word-8Q" not in answer.text
    assert name not in theirs.get("/definitions").text and done["id"] not in theirs.get("/requests").text
    theirs.get("/definitions")
    assert theirs.post(f"/requests/{done['id']}/restart").status_code == 404
    assert theirs.post(f"/definitions/{name}/disable").status_code == 404
    assert theirs.get("/ants").status_code == 403  # as GET /api/ants: the admin's only
    assert admin_api.get(f"/api/jobs/definitions/{name}").json()["disabled"] is False


KEEPS = """job_type: {name}
tasks:
- task_type: build
  method: SHELL
  script:
    - mkdir -p dist && echo "built {name}" > dist/app.txt
  artifacts:
    paths: [dist]
"""


def test_a_requests_artifacts_are_listed_and_download(web: LiveServer, admin_api: httpx.Client) -> None:
    owner = make_user(web, f"a-{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}")
    other = make_user(web, f"b-{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}")
    name = f"keeps-{uuid.uuid4().hex[:6]}"
    with web.client(owner.token) as owner_api:
        apply(owner_api, KEEPS.format(name=name))
        done = run(owner_api, name)
        kept = owner_api.get("/api/artifacts", params={"job_request_id": done["id"]}).json()["Records"]
    assert [a["name"] for a in kept] == ["build.zip"]
    artifact_id = kept[0]["id"]
    mine, theirs = signed_in(web, owner.token), signed_in(web, other.token)
    page = mine.get(f"/requests/{done['id']}")
    section = page.text[page.text.index('id="artifacts"'):]
    assert f'href="/artifacts/{artifact_id}/download"' in section and ">build.zip<" in section, section[:600]
    assert "TASK_ARTIFACTS" in section and ">build<" in section
    listing = mine.get("/artifacts")
    assert listing.status_code == 200 and f'href="/artifacts/{artifact_id}/download"' in listing.text
    assert f'href="/requests/{done["id"]}"' in listing.text
    download = mine.get(f"/artifacts/{artifact_id}/download")
    assert download.status_code == 200 and download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith('attachment; filename="build.zip"')
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.read("dist/app.txt") == f"built {name}\n".encode()
    # Another tenant: not on their list, no download (as GET /api/artifacts/{id}/download answers them).
    assert theirs.get(f"/artifacts/{artifact_id}/download").status_code == 404
    assert artifact_id not in theirs.get("/artifacts").text
    assert httpx.get(f"{web.url}/artifacts/{artifact_id}/download", timeout=30).status_code == 303  # signed out


def test_no_auth_mode_opens_the_pages(tmp_path_factory: pytest.TempPathFactory) -> None:
    with live_server(settings(tmp_path_factory, auth_enabled=False)) as live:
        session = Browserish(httpx.Client(base_url=live.url, timeout=30))
        page = session.get("/requests")
        assert page.status_code == 200 and "Auth is off" in page.text
        assert session.get("/login").status_code == 303
        assert "embedded-ant" in session.get("/ants").text
        apply(httpx.Client(base_url=live.url), ECHO.format(name="open-echo", word="x"))
        assert session.get("/definitions/open-echo").status_code == 200 and session.csrf
        assert session.post("/definitions/open-echo/disable").status_code == 303  # the CSRF cookie still counts
        assert session.post("/definitions/open-echo/enable", csrf=False).status_code == 403


def test_the_pages_stay_out_of_the_openapi_document(web: LiveServer) -> None:
    paths = httpx.get(f"{web.url}/openapi.json", timeout=30).json()["paths"]
    pages = ("/login", "/logout", "/requests", "/definitions", "/ants", "/static")  # the dashboard's own
    assert not [p for p in paths if p == "/" or p.startswith(pages)], sorted(paths)
    assert "/api/jobs/requests" in paths
    assert httpx.get(f"{web.url}/static/htmx.min.js", timeout=30).status_code == 200
    assert httpx.get(f"{web.url}/docs", timeout=30).status_code == 200
