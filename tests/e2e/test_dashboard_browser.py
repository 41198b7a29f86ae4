"""The dashboard in a real browser: Debian's Chromium driven by Playwright (no browser download).

One browser for the module, one live server (SQLite, embedded ant). A person signs in (with a
password, and with a token), uploads a definition through the page, submits it, watches its graph
turn green and its log lines arrive while it runs, cancels a running request and approves a manual
task. Each main page is saved as a screenshot under ``test-output/dashboard/`` (git-ignored; the paths
are printed) at 1280×800 and at a phone's width (390×844), and checked there with axe-core's
accessibility rules and for anything wider than the window.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, job_dir, run, submit, wait_state
from tests.support.live import LiveServer, live_server

CHROMIUM = os.environ.get("MYRMICA_TEST_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"
PASSWORD = "a password for the browser test"
PHONE = {"width": 390, "height": 844}
EXPECT_MS = 20_000  # Playwright's expectations retry until this (a loaded CI machine); none of them sleeps

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                     "(pip install -e '.[test]')")
expect = playwright_api.expect

# The first task prints, then waits for the test to let it go: the page must show its line while it runs.
GATED = """job_type: {name}
description: Prints a line, waits for a go file, prints another.
tasks:
- task_type: first
  method: SHELL
  script:
    - echo "first line from {name}"
  on_completed: gate
- task_type: gate
  method: SHELL
  timeout: 60s
  script:
    - echo "gate is waiting"
    - while [ ! -f "$MYRMICA_JOB_DIR/go" ]; do sleep 0.05; done
    - echo "gate passed" | tee gate-report.txt
  artifacts:
    paths: [gate-report.txt]
"""

QUICK = """job_type: {name}
tasks:
- task_type: hello
  method: SHELL
  script:
    - echo "hello from a phone"
    - mkdir -p out && echo hi > out/hello.txt
  artifacts:
    paths: [out]
"""

SLOW = """job_type: {name}
tasks:
- task_type: wait
  method: SHELL
  timeout: 120s
  script:
    - echo "waiting to be cancelled"
    - sleep 100
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant")
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; ./scripts/test installs it)")
    expect.set_options(timeout=EXPECT_MS)
    with playwright_api.sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def signed_in(browser: Any, web: LiveServer) -> Any:
    """The cookies of one sign-in through the login form, shared by the tests' tabs."""
    with web.client() as api:
        assert api.put("/api/users/me/password", json={"password": PASSWORD}).status_code == 200
    context = browser.new_context(base_url=web.url)
    try:
        tab = context.new_page()
        tab.goto("/")
        expect(tab).to_have_url(f"{web.url}/login?next=%2F")
        tab.get_by_label("Username").fill("admin")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in", exact=True).click()
        expect(tab.get_by_role("heading", name="Requests", exact=True)).to_be_visible()
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, web: LiveServer, signed_in: Any) -> Iterator[Any]:
    """A signed-in tab at 1280×800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=web.url,
                                  storage_state=signed_in)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert problems == [], problems  # no script error on any page


@pytest.fixture
def api(web: LiveServer) -> Iterator[httpx.Client]:
    with web.client() as client:
        yield client


@pytest.fixture(scope="module")
def axe() -> Any:
    module = pytest.importorskip("axe_playwright_python.sync_playwright",
                                 reason="axe-playwright-python is not installed (pip install -e '.[test]')")
    return module.Axe()


@pytest.fixture
def shoot(capsys: pytest.CaptureFixture[str], axe: Any) -> Any:
    """Save a screenshot of the tab, check that nothing but the tables' own scrolling boxes is wider
    than the window, and check the page with axe-core (WCAG 2 A and AA rules: labels, contrast,
    headings, landmarks, names of links and buttons)."""

    def save(tab: Any, name: str) -> Path:
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} is too wide"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        with capsys.disabled():
            print(f"\nscreenshot: {path}")
        found = axe.run(tab, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]})
        problems = [(v["id"], v["impact"], [node["html"][:120] for node in v["nodes"][:3]])
                    for v in found.response["violations"]]
        assert problems == [], f"{name}: {problems}"
        return path

    return save


def node_fill(tab: Any, task: str) -> Any:
    """The fill of a task's box in the inline Graphviz SVG."""
    return tab.locator(f'#graph g.node:has(> title:text-is("{task}")) > path').first


def nav(tab: Any, name: str) -> Any:
    return tab.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def request_id_of(tab: Any) -> str:
    return str(tab.url.rstrip("/").split("/requests/")[1].split("?")[0])


def test_sign_in_upload_submit_and_watch_it_run(browser: Any, page: Any, web: LiveServer, shoot: Any) -> None:
    name = f"gated-{uuid.uuid4().hex[:6]}"
    page.goto("/requests")
    nav(page, "Definitions").click()
    page.get_by_label("Definition (YAML or JSON)").fill(GATED.format(name=name))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Saved a new version")).to_be_visible()
    expect(page.get_by_role("img", name=f"Task graph of {name}")).to_be_visible()
    shoot(page, "definition")
    nav(page, "Definitions").click()
    page.get_by_label("Search").fill(name[:10])
    expect(page.get_by_role("link", name=name)).to_be_visible()
    shoot(page, "definitions")

    page.get_by_role("link", name=name).click()
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Submitted")).to_be_visible()
    request_id = request_id_of(page)
    log = page.locator("#log")
    # While the gate task runs, its first line is already on the page and its box is blue.
    expect(log).to_contain_text(f"first line from {name}")
    expect(log).to_contain_text("gate is waiting")
    expect(page.locator("#request-state")).to_have_text("EXECUTING")
    expect(node_fill(page, "gate")).to_have_attribute("fill", "lightskyblue")
    expect(node_fill(page, "first")).to_have_attribute("fill", "palegreen")
    assert "gate passed" not in log.inner_text()
    (job_dir(web, request_id) / "go").touch()
    expect(log).to_contain_text("gate passed")
    expect(page.locator("#request-state")).to_have_text("COMPLETED")
    expect(node_fill(page, "gate")).to_have_attribute("fill", "palegreen")
    expect(page.locator("#log-status")).to_contain_text("ended COMPLETED")
    expect(page.locator("#task-gate")).to_contain_text("COMPLETED")
    expect(page.get_by_role("region", name="Artifacts of this request")).to_contain_text("gate.zip")
    shoot(page, "request")

    nav(page, "Requests").click()
    page.get_by_label("COMPLETED").check()
    expect(page).to_have_url(f"{web.url}/requests?state=COMPLETED")
    expect(page.get_by_role("link", name=request_id)).to_be_visible()
    shoot(page, "requests")


def test_cancel_a_running_request(page: Any, api: httpx.Client, web: LiveServer) -> None:
    name = f"slow-{uuid.uuid4().hex[:6]}"
    apply(api, SLOW.format(name=name))
    page.goto("/requests")
    request_id = submit(api, name)["id"]
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=request_id))
    expect(row).to_contain_text("EXECUTING")  # the list updates by itself
    row.get_by_role("link", name=request_id).click()
    expect(page.locator("#log")).to_contain_text("waiting to be cancelled")
    page.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")  # the buttons work from the keyboard
    expect(page.locator("#request-state")).to_have_text("CANCELLED")
    expect(page.get_by_role("button", name="Restart")).to_be_visible()
    expect(page.locator("#log-status")).to_contain_text("ended CANCELLED")
    assert wait_state(api, request_id, "CANCELLED")["error_code"] == "ERR_JOB_CANCELLED"


def test_approve_a_manual_task(page: Any, api: httpx.Client, shoot: Any) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    apply(api, (examples / "approval.yaml").read_text())
    request_id = submit(api, "approval")["id"]
    page.goto(f"/requests/{request_id}")
    approval = page.get_by_role("region", name="approve-release awaits approval")
    expect(approval).to_be_visible()
    expect(node_fill(page, "approve-release")).to_have_attribute("fill", "orange")
    shoot(page, "approval")
    approval.get_by_label("Comments").fill("ship it")
    approval.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="approval is recorded")).to_be_visible()
    expect(page.locator("#request-state")).to_have_text("COMPLETED")
    expect(node_fill(page, "deploy")).to_have_attribute("fill", "palegreen")
    expect(page.locator("#log")).to_contain_text("deployed")
    body = wait_state(api, request_id, "COMPLETED")
    approved = [t for t in body["execution"]["tasks"] if t["task_type"] == "approve-release"]
    assert approved[0]["exit_code"] == "APPROVED" and approved[0]["comments"] == "ship it"


@pytest.fixture(scope="module")
def quick(web: LiveServer) -> dict[str, Any]:
    """A request that has ended, with an artifact (``hello.zip``)."""
    name = f"quick-{uuid.uuid4().hex[:6]}"
    with web.client() as client:
        apply(client, QUICK.format(name=name))
        return {"job_type": name, **run(client, name)}


def test_ants_and_artifacts(page: Any, quick: dict[str, Any], shoot: Any) -> None:
    page.goto("/ants")
    row = page.get_by_role("row").filter(has_text="embedded-ant")
    expect(row).to_contain_text("live")
    expect(row).to_contain_text("SHELL")
    shoot(page, "ants")
    nav(page, "Artifacts").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=quick["id"]))
    expect(row).to_contain_text("TASK_ARTIFACTS")
    shoot(page, "artifacts")
    with page.expect_download() as download:
        row.get_by_role("link", name="hello.zip").click()
    assert download.value.suggested_filename == "hello.zip"


def test_every_page_at_a_phone_width(browser: Any, web: LiveServer, signed_in: Any, quick: dict[str, Any],
                                     shoot: Any) -> None:
    name, done = quick["job_type"], quick
    context = browser.new_context(viewport=PHONE, base_url=web.url, is_mobile=True, has_touch=True)
    try:
        tab = context.new_page()
        tab.goto("/requests")
        expect(tab.get_by_role("heading", name="Sign in to Myrmica")).to_be_visible()
        shoot(tab, "login-phone")
        context.add_cookies(signed_in["cookies"])
        for path, shot, heading in ((f"/requests/{done['id']}", "request-phone", "Request"),
                                    ("/requests", "requests-phone", "Requests"),
                                    (f"/definitions/{name}", "definition-phone", name),
                                    ("/definitions", "definitions-phone", "Job definitions"),
                                    ("/artifacts", "artifacts-phone", "Artifacts"),
                                    ("/ants", "ants-phone", "Ants")):
            tab.goto(path)
            expect(tab.get_by_role("heading", level=1, name=heading)).to_be_visible()
            expect(tab.get_by_role("navigation", name="Main")).to_be_visible()
            if shot == "request-phone":
                expect(tab.locator("#log")).to_contain_text("hello from a phone")
                expect(tab.get_by_role("region", name="Artifacts of this request")).to_contain_text("hello.zip")
            shoot(tab, shot)
    finally:
        context.close()


def test_signed_out_pages_show_the_login(browser: Any, web: LiveServer, shoot: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=web.url)
    try:
        tab = context.new_page()
        tab.goto("/definitions")
        expect(tab.get_by_role("heading", name="Sign in to Myrmica")).to_be_visible()
        tab.get_by_label("Username").fill("admin")
        tab.get_by_label("Password").fill("not the password")
        tab.get_by_role("button", name="Sign in", exact=True).click()
        expect(tab.get_by_role("alert")).to_contain_text("Wrong username or password")
        expect(tab.get_by_label("Username")).to_have_value("admin")
        tab.get_by_label("API token").fill("myr_wrong")
        tab.get_by_role("button", name="Sign in with the token").click()
        expect(tab.get_by_role("alert")).to_contain_text("not valid")
        shoot(tab, "login")
        tab.get_by_label("API token").fill(web.token)
        tab.get_by_label("API token").press("Enter")  # signing in by keyboard alone
        expect(tab.get_by_role("heading", name="Job definitions")).to_be_visible()  # back where it was going
        tab.keyboard.press("Tab")  # the first stop is the skip link, shown when focused
        skip = tab.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        tab.keyboard.press("Enter")
        expect(tab.locator("#main")).to_be_focused()
        tab.get_by_role("button", name="Log out").click()
        expect(tab.get_by_role("heading", name="Sign in to Myrmica")).to_be_visible()
    finally:
        context.close()
