"""Schemathesis over the server's own ``/openapi.json``: whatever the inputs the document allows (and
plenty it does not), no answer is a 5xx and the server stays up (issue 11 §2).

Bounded: a few examples per operation, on SQLite, with no ant (so nothing a fuzzed definition says
ever runs). Regression tests for what it found live in test_bad_input.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.generation.case import Case

from myrmica.config import Settings
from tests.support.live import LiveServer, live_server

MAX_EXAMPLES = 4  # per operation; ~150 operations over four dialects

SEED = """job_type: fuzz-seed
tasks:
- task_type: one
  method: SHELL
  script: ["echo one"]
"""


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("fuzz")
    config = Settings(data_dir=data, database_url=f"sqlite:///{data / 'myrmica.db'}",
                      admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=False)
    with live_server(config) as live:
        yield live


def _seed(server: LiveServer) -> dict[str, str]:
    with server.client() as api:
        definition = api.post("/api/jobs/definitions", content=SEED, headers={"Content-Type": "application/yaml"})
        request = api.post("/api/jobs/requests", json={"job_type": "fuzz-seed"}).json()
        config = api.post("/api/jobs/definitions/fuzz-seed/configs", json={"name": "c", "value": "v"}).json()
        token = api.post("/api/users/me/tokens", json={"token": "fuzz"}).json()
        tork = api.post("/tork/jobs", content="name: fuzz\ntasks:\n  - name: t\n    run: echo\n",
                        headers={"Content-Type": "text/yaml"}).json()
    return {"tork_job_id": tork["id"], "tork_task_id": tork["id"],
            "definition_id": definition.json()["id"], "job_id": "fuzz-seed", "job_type": "fuzz-seed",
            "request_id": request["id"], "config_id": config["id"], "user_id": "me", "token_id": token["id"],
            "task_type": "one"}


@pytest.fixture(scope="module")
def fuzz_session(fuzz_server: LiveServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {fuzz_server.token}"
        yield session


def _call(case: Case, server: LiveServer, session: requests.Session, known: dict[str, str] | None = None) -> None:
    """One call as generated; with ``known``, its ids replaced by ones that exist, to get past the 404s."""
    if case.path.endswith("/logs") and isinstance(case.query, dict) and \
            str(case.query.get("follow")).lower() in ("true", "1"):
        case.query["follow"] = "false"  # (a followed log streams until its request ends)
    if known and case.path_parameters:
        case.path_parameters = {name: known.get(name, value) for name, value in case.path_parameters.items()}
    response = case.call(base_url=server.url, session=session, timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body,
                                        response.status_code, response.text[:300])


def _dialect(path: str) -> str:
    first = path.strip("/").split("/", 1)[0]
    if first == "api":
        return "api-jobs" if path.startswith("/api/jobs") else "api-rest"
    return first if first in ("tork", "fastlane", "v1") else "other"


@pytest.fixture(scope="module")
def known_ids(fuzz_server: LiveServer) -> dict[str, str]:
    return _seed(fuzz_server)


# One test per dialect (the operations are many): xdist spreads them over its workers.
@pytest.mark.parametrize("dialect", ["api-jobs", "api-rest", "tork", "fastlane", "v1", "other"])
def test_no_input_gets_a_server_error(dialect: str, fuzz_server: LiveServer, fuzz_session: requests.Session,
                                      known_ids: dict[str, str]) -> None:
    known = known_ids
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    failures: list[str] = []
    everything = [result.ok() for result in schema.get_all_operations()]
    assert len(everything) >= 48
    assert any(operation.path == "/tork/jobs" for operation in everything)
    operations = [operation for operation in everything if _dialect(operation.path) == dialect]
    assert operations or dialect == "other"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
            def run(case: Case) -> None:
                _call(case, fuzz_server, fuzz_session)
                _call(case, fuzz_server, fuzz_session, known)

            try:
                run()
            except Unsatisfiable:
                continue  # (nothing to make invalid: e.g. an operation whose only inputs are path strings)
            except AssertionError as exc:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
            except Exception as exc:  # noqa: BLE001 - e.g. a connection the server dropped: report them all
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc!r}")
    with httpx.Client(base_url=fuzz_server.url, timeout=10) as probe:
        assert probe.get("/api/health").status_code == 200
        assert probe.get("/tork/health").json()["status"] == "UP"
    assert not failures, "\n".join(failures)
