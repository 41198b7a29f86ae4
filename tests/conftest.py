"""Fixtures shared by every layer: real databases (SQLite and PostgreSQL) and live servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from myrmica.config import Settings
from tests.support.docker_engine import DockerEngine, EngineUnavailable, throwaway_engine
from tests.support.live import LiveServer, live_server
from tests.support.migrated import migrated_postgres, migrated_sqlite
from tests.support.postgres import create_database, throwaway_postgres
from tests.support.redis_server import RedisServer

SERVER_MODES = ("sqlite", "postgresql", "postgresql+redis")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.modes("sqlite", …)`` keeps a server test to those modes.

    Tests of what is above the store (the CLI, definitions, bad input) gain nothing from running on every
    backend; the engine and store tests keep all three.
    """
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("modes")
        callspec = getattr(item, "callspec", None)
        mode = callspec.params.get("server_settings") if callspec is not None else None
        if marker is not None and mode is not None:
            unknown = set(marker.args) - set(SERVER_MODES)
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: unknown server modes {sorted(unknown)}")
            if mode not in marker.args:
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    given = os.environ.get("MYRMICA_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each test that takes this runs on both backends, each time on an empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'myrmica.db'}"
    cluster: str = request.getfixturevalue("postgres_cluster")
    return create_database(cluster, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A real dockerd of our own (root only) with the busybox test image; skips saying why it cannot start."""
    try:
        context = throwaway_engine()
        engine = context.__enter__()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")
    try:
        yield engine
    finally:
        context.__exit__(None, None, None)


def fresh_redis(server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return server.url


@pytest.fixture(params=SERVER_MODES)
def server_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Every server test runs embedded (SQLite), on PostgreSQL, and distributed (PostgreSQL + Redis)."""
    return fresh_settings(request, tmp_path_factory, request.param)


def fresh_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mode: str) -> Settings:
    """A server's settings on an empty database of ``mode`` (sqlite, postgresql, postgresql+redis)."""
    if mode == "sqlite":
        database_url = migrated_sqlite(tmp_path_factory.mktemp("db") / "myrmica.db")
    else:
        database_url = migrated_postgres(request.getfixturevalue("postgres_cluster"))
    broker_url = fresh_redis(request.getfixturevalue("redis_server")) if mode == "postgresql+redis" else ""
    return Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=database_url, broker_url=broker_url,
                    admin_token="myr_test_" + uuid.uuid4().hex, embedded_ant=True, ant_id="embedded-ant",
                    work_dir=tmp_path_factory.mktemp("work"))


@pytest.fixture
def server(server_settings: Settings, monkeypatch: pytest.MonkeyPatch,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on SQLite and on PostgreSQL, with an admin token."""
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path_factory.mktemp("cli") / "credentials.json"))
    with live_server(server_settings) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
