"""Job resource quotas (spec §1.7: allocate/deallocate against ``quota``, leases that lapse) and the
error-code catalogue's matching, through the catalog service on the real store (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from myrmica.clock import utcnow
from myrmica.domain.error_codes import ErrorRule, match_rule
from myrmica.domain.errors import ConflictError, NotFoundError
from myrmica.domain.principal import Principal
from myrmica.ids import new_id
from myrmica.service.catalog import CatalogService
from myrmica.store.catalogs import Catalog
from myrmica.store.store import Store
from myrmica.store.tables import error_codes, job_resource_uses


def _service(store: Store) -> CatalogService:
    c = store.catalogs
    return CatalogService(configs=c.configs, error_codes=c.error_codes, resources=c.resources,
                          resource_configs=c.resource_configs, subscriptions=c.subscriptions, quotas=c,
                          audit=store.audit, now=utcnow)


async def test_a_resource_quota_is_never_passed_even_by_concurrent_takers(store: Store, alice: Principal,
                                                                            bob: Principal) -> None:
    service = _service(store)
    resource = await service.create_resource(alice, {"resource_type": "license", "quota": 3, "value": 1,
                                                     "lease_timeout": 60 * 10**9})
    results = await asyncio.gather(*(service.allocate(alice, resource["id"], f"r{i}") for i in range(6)),
                                   return_exceptions=True)
    taken = [r for r in results if isinstance(r, dict)]
    assert len(taken) == 3 and all(isinstance(r, ConflictError) for r in results if not isinstance(r, dict))
    with pytest.raises(ConflictError):
        await service.allocate(alice, resource["id"], "big", value=1)
    with pytest.raises(NotFoundError):  # another tenant's resource is not found
        await service.allocate(bob, resource["id"], "r")
    await service.deallocate(alice, resource["id"], taken[0]["id"])
    again = await service.allocate(alice, resource["id"], "r9")
    # A lease that lapsed frees its share.
    async with store.db.begin() as conn:
        await conn.execute(update(job_resource_uses).where(job_resource_uses.c.id == again["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert len(await service.resource_uses(alice, resource["id"])) == 2
    await service.allocate(alice, resource["id"], "r10")
    await service.set_resource_disabled(alice, resource["id"], True)
    with pytest.raises(ConflictError):
        await service.allocate(alice, resource["id"], "r11")


def test_the_most_specific_error_rule_wins() -> None:
    rules = [ErrorRule("a", "ERR_ANY_7", exit_code=7),
             ErrorRule("b", "ERR_DEPLOY_7", exit_code=7, job_type="deploy", action="RETRY_JOB", retry=2),
             ErrorRule("c", "ERR_TIMEOUT", regex=r"timed? ?out", task_type_scope="push", action="HARD_FAILURE"),
             ErrorRule("d", "ERR_BAD", regex="(", exit_code=1)]
    def match(**kw: str) -> str | None:
        args = {"job_type": "build", "task_type": "t", "platform": "", "exit_code": "1", "message": "",
                "failed_command": "", **kw}
        found = match_rule(rules, **args)
        return found.id if found else None
    assert match(exit_code="7") == "a"
    assert match(exit_code="7", job_type="deploy") == "b"
    assert match(message="connection timed out", task_type="push") == "c"
    assert match(message="connection timed out", task_type="pull") is None
    assert match(exit_code="1") is None  # a broken regex never matches
    assert ErrorRule("c", "E", action="HARD_FAILURE").hard and ErrorRule("x", "E", hard_failure=True).hard


async def test_the_kept_error_codes_are_cleared_at_once_by_a_write_through_the_same_catalog(store: Store) -> None:
    """all() is kept a while per queen (every run reads it); a change on this queen shows at once, while
    a row written behind its back (as by another queen) waits for the cache to lapse."""
    catalog = Catalog(store.requests._engine, error_codes, "error code", cache_seconds=3600)  # noqa: SLF001
    now = utcnow()

    def row(code: str) -> dict[str, object]:
        return {"id": new_id(), "error_code": code, "regex": code, "created_at": now, "updated_at": now}

    assert await catalog.all({}) == []
    async with store.requests._engine.begin() as conn:  # noqa: SLF001 - behind the catalog's back
        await conn.execute(insert(error_codes), row("ERR_ELSEWHERE"))
    assert await catalog.all({}) == [], "kept: read at most once per cache time"
    made = await catalog.create(row("ERR_HERE"))
    assert {r["error_code"] for r in await catalog.all({})} == {"ERR_ELSEWHERE", "ERR_HERE"}
    await catalog.update(made["id"], {"display_code": "HERE"}, {})
    assert {r["display_code"] for r in await catalog.all({}) if r["error_code"] == "ERR_HERE"} == {"HERE"}
    await catalog.delete(made["id"], {})
    assert [r["error_code"] for r in await catalog.all({})] == ["ERR_ELSEWHERE"]
