"""What a task can reach, against a running server: not the server's files, nor its environment, nor a
secret on a command line; and the server's own files are private to its user."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from myrmica.ant.executors.sandbox import probe
from myrmica.config import Settings
from tests.support.jobs import apply, job_dir, log_text, run, submit, task, wait_for, wait_state
from tests.support.live import LiveServer, live_server

SERVER_ENV = {"MYRMICA_ADMIN_TOKEN": "myr_env_admin_token_Q1", "MYRMICA_SECRET_KEY": "env-secret-key-Q2",
              "AWS_SECRET_ACCESS_KEY": "aws-secret-Q3", "MYRMICA_DATABASE_PASSWORD": "db-password-Q4"}
needs_bwrap = pytest.mark.skipif(probe("bwrap") is not None, reason=f"no working bubblewrap: {probe('bwrap')}")


@dataclasses.dataclass
class Bare:
    """A server that made its own admin token, secret key and credentials file, as a first start does."""

    live: LiveServer
    api: httpx.Client
    data: Path
    credentials: Path
    database: Path

    @property
    def secret_files(self) -> list[Path]:
        return [self.data / "admin-token", self.data / "secret.key", self.database, self.credentials]


@pytest.fixture
def sandbox() -> str:
    return "auto"


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A directory outside /tmp (a sandboxed task's /tmp is its own, so files under /tmp are out of its
    sight anyway): the server's files there are hidden one by one."""
    base = Path(tempfile.mkdtemp(prefix="myrmica-isolation-test-", dir="/var/tmp"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def bare(server_settings: Settings, sandbox: str, monkeypatch: pytest.MonkeyPatch, outside_tmp: Path) -> Iterator[Bare]:
    credentials = outside_tmp / "config" / "credentials.json"
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(credentials))
    for name, value in SERVER_ENV.items():  # the server's (and so its embedded ant's) environment
        monkeypatch.setenv(name, value)
    data = outside_tmp / "data"
    data.mkdir(mode=0o755)  # as an older version left them
    (data / "secret.key").write_text("key-of-an-older-version")
    (data / "secret.key").chmod(0o644)
    database_url = server_settings.database_url
    if database_url.startswith("sqlite:"):
        database_url = f"sqlite:///{outside_tmp / 'db' / 'myrmica.db'}"
    settings = dataclasses.replace(server_settings, admin_token="", sandbox=sandbox, data_dir=data,
                                   database_url=database_url)
    with live_server(settings) as live:
        token = (data / "admin-token").read_text().strip()
        with live.client(token) as api:
            database = Path(settings.effective_database_url.removeprefix("sqlite:///"))
            yield Bare(live, api, data, credentials, database)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)
def test_the_servers_files_are_its_users_alone(bare: Bare) -> None:
    assert mode(bare.data) == 0o700  # tightened at start
    assert (bare.data / "secret.key").read_text() == "key-of-an-older-version"
    for path in (*bare.secret_files, *(bare.database.with_name(bare.database.name + s) for s in ("-wal", "-shm"))):
        if path.exists():
            assert mode(path) == 0o600, path
    assert bare.database.exists() and bare.credentials.exists()
    work = bare.live.settings.effective_work_dir
    assert bare.data not in work.parents and work not in bare.data.parents


CHECK_FILES = """job_type: try-to-become-admin
tasks:
- task_type: look
  method: SHELL
  script:
    - for f in {files}; do if cat "$f" > /dev/null 2>&1; then echo "read $f"; else echo "denied $f"; fi; done
    - ls -A "{data}" 2>/dev/null | wc -l
    - cat ../../../admin-token ../../admin-token ../admin-token 2>/dev/null || echo no-relative-path
    - echo "the token is $(cat "{data}/admin-token" 2>&1)"
"""


def try_the_files(bare: Bare) -> tuple[dict[str, str], list[str]]:
    apply(bare.api, CHECK_FILES.format(files=" ".join(str(p) for p in bare.secret_files), data=bare.data))
    done = run(bare.api, "try-to-become-admin")
    assert done["job_state"] == "COMPLETED", done
    lines = log_text(bare.api, done["id"])
    verdicts = dict(reversed(line.split(" ", 1)) for line in lines[:4])
    return verdicts, lines


@needs_bwrap
@pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)
def test_a_task_cannot_read_the_servers_secret_files(bare: Bare) -> None:
    verdicts, lines = try_the_files(bare)
    assert verdicts == {str(path): "denied" for path in bare.secret_files}, lines
    assert lines[4] == "0"  # the data directory is empty or not there at all
    assert lines[5] == "no-relative-path"  # the task's directory is not inside the data directory
    token = (bare.data / "admin-token").read_text().strip()
    assert not any(token in line or "key-of-an-older-version" in line for line in lines)


@pytest.mark.parametrize("sandbox", ["none"])
@pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)
def test_without_a_sandbox_tasks_run_and_can_read_what_the_servers_user_can(bare: Bare) -> None:
    verdicts, lines = try_the_files(bare)
    assert verdicts[str(bare.data / "admin-token")] == "read"  # what "none" means
    assert lines[5] == "no-relative-path"  # still: the work directory is outside the data directory
    test_a_task_sees_nothing_of_the_servers_environment(bare)


SHOW_ENV = """job_type: show-env
tasks:
- task_type: env
  method: SHELL
  script:
    - env
    - echo "home=$HOME pwd=$(pwd)"
"""


@pytest.mark.parametrize("server_settings", ["sqlite", "postgresql+redis"], indirect=True)
def test_a_task_sees_nothing_of_the_servers_environment(bare: Bare) -> None:
    apply(bare.api, SHOW_ENV)
    done = run(bare.api, "show-env")
    assert done["job_state"] == "COMPLETED", done
    lines = log_text(bare.api, done["id"])
    names = {line.split("=", 1)[0] for line in lines[:-1] if "=" in line}
    assert not names & set(SERVER_ENV), names
    assert not any(value in line for value in SERVER_ENV.values() for line in lines)
    assert {"PATH", "HOME", "LANG", "MYRMICA_JOB_DIR"} <= names
    home, cwd = lines[-1].split()
    assert home.removeprefix("home=") == cwd.removeprefix("pwd=")  # HOME is the task's own directory


LOADER = """job_type: loader-variables
tasks:
- task_type: build
  method: SHELL
  {key}:
    LD_PRELOAD: /tmp/evil.so
  script:
    - echo "${{LD_PRELOAD-unset}}"
"""
PLAIN = """job_type: plain-variables
tasks:
- task_type: build
  method: SHELL
  script:
    - echo "preload=${LD_PRELOAD-unset}"
"""


@pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)
def test_loader_variables_are_refused_or_left_out_with_a_log_line(bare: Bare) -> None:
    for key in ("variables", "environment"):
        refused = bare.api.post("/api/jobs/definitions", content=LOADER.format(key=key),
                                headers={"Content-Type": "application/yaml"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == f"{key}.LD_PRELOAD" and "LD_PRELOAD" in refused.json()["error"]
    definition = apply(bare.api, PLAIN)
    response = bare.api.post("/api/jobs/requests", json={"job_type": "plain-variables",
                                                         "params": {"LD_PRELOAD": "/tmp/evil.so"}})
    assert response.status_code == 422 and response.json()["field"] == "params.LD_PRELOAD", response.text
    # A config is not checked where it is set (it may serve templates only): it stays out of the environment.
    created = bare.api.post(f"/api/jobs/definitions/{definition['id']}/configs",
                            json={"name": "LD_PRELOAD", "value": "/tmp/evil.so"})
    assert created.status_code == 201, created.text
    done = run(bare.api, "plain-variables")
    assert done["job_state"] == "COMPLETED", done
    lines = log_text(bare.api, done["id"])
    assert "preload=unset" in lines
    assert any(line.startswith("left out of the task's environment: LD_PRELOAD") for line in lines), lines


ARGV = """job_type: secret-in-a-command
tasks:
- task_type: wait
  method: SHELL
  script:
    - T="{{ .Token }}"; mkfifo "$MYRMICA_JOB_DIR/gate"; read x < "$MYRMICA_JOB_DIR/gate"; echo "released $x"
"""


def command_lines() -> list[bytes]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    found.append(handle.read())
            except OSError:
                continue
    return found


@pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)
def test_a_secret_in_a_rendered_command_is_on_no_command_line(bare: Bare) -> None:
    secret = "argv-secret-" + os.urandom(6).hex()
    apply(bare.api, ARGV)
    request = submit(bare.api, "secret-in-a-command", secret_params={"Token": secret})
    gate = job_dir(bare.live, request["id"]) / "gate"
    wait_for(lambda: gate.exists(), timeout=30, what=f"{gate} (the task waiting on it)")
    seen = [line for line in command_lines() if secret.encode() in line]
    fd = os.open(gate, os.O_WRONLY)  # the task is in open() for reading: this returns at once
    os.write(fd, b"go\n")
    os.close(fd)
    done = wait_state(bare.api, request["id"], ("COMPLETED", "FAILED"), timeout=30)
    assert done["job_state"] == "COMPLETED", done
    assert seen == [], seen
    assert "released go" in log_text(bare.api, done["id"])
    assert task(done, "wait")["task_state"] == "COMPLETED"
