"""Artifacts end to end (spec §5) on one embedded server: a task's ``artifacts.paths`` kept in the store
after it and extracted for a task that lists it in ``dependencies``; a cache found again by its key;
``/api/artifacts`` with seed 000's shapes and the Page envelope; uploads; downloads by id and SHA-256;
the making task's log; deletion; ``EXPIRE_ARTIFACTS``; bad input as 4xx."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from myrmica.config import Settings
from tests.support.jobs import apply, contexts, job_context, log_text, run, task
from tests.support.live import LiveServer, live_server

SEED_ARTIFACT_FIELDS = {"artifact_order", "bucket", "content_length", "content_type", "created_at", "etag",
                        "expires_at", "group", "id", "job_execution_id", "job_request_id", "kind", "metadata",
                        "name", "organization_id", "permissions", "sha256", "tags", "task_execution_id",
                        "task_type", "updated_at", "url", "user_id"}

PIPELINE = """
job_type: {name}
tasks:
- task_type: build
  method: SHELL
  script:
    - mkdir -p out/deep && echo built-{name} > out/result.txt && echo inner > out/deep/x.txt
    - echo compiled the thing
  artifacts:
    paths: [out, missing-file]
  on_completed: use
- task_type: use
  method: SHELL
  dependencies: [build]
  script:
    - cat out/result.txt out/deep/x.txt
"""

CACHED = """
job_type: {name}
tasks:
- task_type: deps
  method: SHELL
  cache:
    key: "lock-{name}"
    paths: [vendor]
  script:
    - if [ -f vendor/lib ]; then echo CACHE-HIT; else mkdir -p vendor && echo v1 > vendor/lib && echo CACHE-MISS; fi
"""

SHORT_LIVED = """
job_type: {name}
tasks:
- task_type: make
  method: SHELL
  script: ["echo x > f.txt"]
  artifacts:
    paths: [f.txt]
    expires_after: 1ms
"""

EXPIRE = """
job_type: {name}
tasks:
- task_type: expire
  method: EXPIRE_ARTIFACTS
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"),
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}",
                        admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                        work_dir=tmp_path_factory.mktemp("work"), sandbox="none",
                        max_upload_bytes=100_000)
    with live_server(settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _zip_names(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_dependency_gets_the_artifacts_of_the_task_it_names(api: httpx.Client, server: LiveServer) -> None:
    name = _name("pipe")
    apply(api, PIPELINE.format(name=name))
    done = run(api, name)
    assert done["job_state"] == "COMPLETED", done
    assert f"built-{name}" in log_text(api, done["id"], "use") and "inner" in log_text(api, done["id"], "use")
    build = task(done, "build")
    assert [a["task_type"] for a in build["artifacts"]] == ["build"] and task(done, "use")["artifacts"] == []
    kept = build["artifacts"][0]
    assert set(kept) >= SEED_ARTIFACT_FIELDS
    assert (kept["kind"], kept["name"], kept["job_request_id"], kept["task_execution_id"]) == \
        ("TASK_ARTIFACTS", "build.zip", done["id"], build["id"])
    assert contexts(build["contexts"])["build_ArtifactURL_1"] == f"/api/artifacts/{kept['id']}/download"

    page = api.get("/api/artifacts", params={"job_request_id": done["id"]}).json()
    assert set(page) == {"Page", "PageSize", "Records", "TotalPages", "TotalRecords"}
    assert (page["TotalRecords"], page["TotalPages"], [r["id"] for r in page["Records"]]) == (1, 1, [kept["id"]])
    assert api.get("/api/artifacts", params={"task_type": "use", "job_request_id": done["id"]}).json()[
        "TotalRecords"] == 0
    by_size = api.get("/api/artifacts", params={"content_length": kept["content_length"], "sha256": kept["sha256"]})
    assert [r["id"] for r in by_size.json()["Records"]] == [kept["id"]]

    got = api.get(f"/api/artifacts/{kept['id']}").json()
    assert got == kept
    download = api.get(f"/api/artifacts/{kept['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="build.zip"')
    assert hashlib.sha256(download.content).hexdigest() == kept["sha256"]
    assert _zip_names(download.content) == {"out/result.txt": f"built-{name}\n".encode(), "out/deep/x.txt": b"inner\n"}
    assert api.get(f"/api/artifacts/{kept['sha256']}/download").content == download.content  # by SHA-256
    raw = api.get(f"/api/artifacts/{kept['id']}/download/raw")
    assert raw.content == download.content and "content-disposition" not in raw.headers
    logs = api.get(f"/api/artifacts/{kept['id']}/logs")
    assert logs.status_code == 200 and "compiled the thing" in logs.text and "inner" not in logs.text

    # The object is in the store under the data directory (the embedded default), and deletion removes both.
    store_root = server.settings.data_dir / "artifacts"
    assert len([p for p in store_root.rglob("*.zip") if done["id"] in str(p)]) == 1
    assert api.delete(f"/api/artifacts/{kept['id']}").status_code == 200
    assert api.get(f"/api/artifacts/{kept['id']}").status_code == 404
    assert api.get(f"/api/artifacts/{kept['id']}/download").status_code == 404
    assert [p for p in store_root.rglob("*.zip") if done["id"] in str(p)] == []


def test_a_cache_is_found_again_by_its_key(api: httpx.Client) -> None:
    name = _name("cache")
    apply(api, CACHED.format(name=name))
    first, second = run(api, name), run(api, name)
    assert (first["job_state"], second["job_state"]) == ("COMPLETED", "COMPLETED")
    assert "CACHE-MISS" in log_text(api, first["id"]) and "CACHE-HIT" in log_text(api, second["id"])
    caches = api.get("/api/artifacts", params={"kind": "CACHE", "name": "deps_cache.zip"}).json()["Records"]
    assert len([c for c in caches if c["group"] == name]) == 1  # one row per key: saved again, replaced
    assert contexts(task(second, "deps")["contexts"])["CachedArtifactKey"]


def test_expire_artifacts_deletes_what_has_expired(api: httpx.Client) -> None:
    short, expire = _name("short"), _name("expire")
    apply(api, SHORT_LIVED.format(name=short))
    apply(api, EXPIRE.format(name=expire))
    made = run(api, short)
    kept = task(made, "make")
    artifact_id = contexts(kept["contexts"])["make_ArtifactID_1"]
    assert api.get(f"/api/artifacts/{artifact_id}").status_code == 404  # expired: no longer served
    swept = run(api, expire)
    assert swept["job_state"] == "COMPLETED", swept
    assert int(job_context(swept)["TotalExpired"]) >= 1
    again = run(api, expire)
    assert job_context(again)["TotalExpired"] == "0"


def test_an_upload_round_trips_with_its_metadata(api: httpx.Client) -> None:
    body = b"\x00\x01uploaded bytes\xff"
    made = api.post("/api/artifacts?name=report.bin&group=reports&colour=blue", content=body,
                    headers={"Content-Type": "application/x-thing"})
    assert made.status_code == 200, made.text
    row = made.json()
    assert set(row) >= SEED_ARTIFACT_FIELDS
    assert (row["kind"], row["name"], row["group"], row["content_type"], row["content_length"]) == \
        ("USER_UPLOADED", "report.bin", "reports", "application/x-thing", len(body))
    assert row["metadata"] == {"colour": "blue", "group": "reports"}
    assert row["sha256"] == hashlib.sha256(body).hexdigest()
    assert api.get(f"/api/artifacts/{row['id']}/download").content == body
    assert api.get(f"/api/artifacts/{row['id']}/logs").status_code == 404  # an upload has no task log
    page = api.get("/api/artifacts", params={"kind": "USER_UPLOADED", "page_size": 1, "page": 0}).json()
    assert page["PageSize"] == 1 and len(page["Records"]) == 1


@pytest.mark.parametrize("path, status", [
    ("/api/artifacts?colour=red", 400),
    ("/api/artifacts?content_length=big", 400),
    ("/api/artifacts?page_size=0", 400),
    ("/api/artifacts?name=" + "n" * 400, 400),
    ("/api/artifacts/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404),
    ("/api/artifacts/01ARZ3NDEKTSV4RRFFQ69G5FAV/download", 404),
    ("/api/artifacts/" + "a" * 64 + "/download", 404),
    ("/api/artifacts/nope/logs", 404),
])
def test_bad_reads_are_4xx_in_the_native_shape(api: httpx.Client, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_bad_writes_are_4xx_and_write_nothing(api: httpx.Client, server: LiveServer) -> None:
    before = api.get("/api/artifacts", params={"kind": "USER_UPLOADED"}).json()["TotalRecords"]
    limit = server.settings.max_upload_bytes
    too_big = api.post("/api/artifacts?name=big", content=b"x" * (limit + 1))
    assert too_big.status_code == 413, too_big.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bound holds while the body streams in
        yield b"y" * limit
        yield b"y"

    assert api.post("/api/artifacts?name=big", content=chunks()).status_code == 413
    assert api.delete("/api/artifacts/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert api.post("/api/artifacts?name=" + "n" * 400, content=b"x").status_code == 422
    assert api.get("/api/artifacts", params={"kind": "USER_UPLOADED"}).json()["TotalRecords"] == before
    unauthenticated = httpx.get(f"{server.url}/api/artifacts")
    assert unauthenticated.status_code == 401
