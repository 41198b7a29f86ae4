"""Tork's paging maths and ``q`` search on ``GET /jobs`` (spec/tork.md §3, §5: 101 jobs give 11 pages,
page 11 has size 1; "101" finds "Job 101"; tags), on SQLite and PostgreSQL. No ant: the jobs wait."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import live_server
from tests.support.tork import post_job

COUNT = 101


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def listed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server holding 101 waiting jobs ``Job 1`` … ``Job 101``; job 7 is tagged, job 8 described."""
    from tests.conftest import fresh_settings

    settings = dataclasses.replace(fresh_settings(request, tmp_path_factory, request.param), embedded_ant=False)
    with live_server(settings) as live, live.client() as api:
        for i in range(1, COUNT + 1):
            extra = "tags: [tag-1, other]\n" if i == 7 else "description: a Special one\n" if i == 8 else ""
            post_job(api, f"name: Job {i}\n{extra}tasks:\n  - name: t\n    run: echo {i}\n")
        yield api


def test_101_jobs_make_11_pages_and_the_last_has_one(listed: httpx.Client) -> None:
    first = listed.get("/tork/jobs").json()
    assert (first["number"], first["size"], first["totalPages"], first["totalItems"]) == (1, 10, 11, 101)
    assert [item["name"] for item in first["items"]] == [f"Job {i}" for i in range(101, 91, -1)]
    last = listed.get("/tork/jobs", params={"page": 11}).json()
    assert (last["number"], last["size"], last["totalPages"]) == (11, 1, 11)
    assert last["items"][0]["name"] == "Job 1"
    beyond = listed.get("/tork/jobs", params={"page": 12}).json()
    assert beyond["items"] == [] and beyond["size"] == 0 and beyond["totalItems"] == 101
    big = listed.get("/tork/jobs", params={"size": 50}).json()
    assert (big["size"], big["totalPages"]) == (20, 6)  # size is clamped to 20


def _names(api: httpx.Client, q: str, **params: object) -> list[str]:
    page = api.get("/tork/jobs", params={"q": q, "size": 20, **params}).json()
    return [item["name"] for item in page["items"]]


def test_q_finds_words_states_and_tags(listed: httpx.Client) -> None:
    assert _names(listed, "101") == ["Job 101"]
    assert listed.get("/tork/jobs", params={"q": "Job"}).json()["totalItems"] == 101
    assert listed.get("/tork/jobs", params={"q": "job 10"}).json()["totalItems"] == 3  # 10, 100, 101
    assert listed.get("/tork/jobs", params={"q": "pending"}).json()["totalItems"] == 101  # a state's name
    assert listed.get("/tork/jobs", params={"q": "running"}).json()["totalItems"] == 0
    assert _names(listed, "special") == ["Job 8"]  # the description
    assert _names(listed, "tag:not-a-tag") == []
    assert _names(listed, "tags:not-a-tag,tag-1") == ["Job 7"]
    assert _names(listed, "tag:other Job") == ["Job 7"]
    assert _names(listed, "100%") == [] and _names(listed, "Job_1") == []  # LIKE's wildcards are literal
