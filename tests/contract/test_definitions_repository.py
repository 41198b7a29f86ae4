"""The definition store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from myrmica.domain.definitions import parse_definition
from myrmica.domain.errors import NotFoundError
from myrmica.domain.principal import Principal
from myrmica.store.definitions import DefinitionFilter
from myrmica.store.store import Store

JOB = """
job_type: {name}
max_concurrency: {concurrency}
tasks:
- task_type: a
  method: SHELL
  script:
    - echo {word}
  on_completed: b
- task_type: b
  method: SHELL
  tags: [linux]
  script:
    - echo done
"""


def job(name: str = "hello", word: str = "hi", concurrency: int = 5) -> str:
    return JOB.format(name=name, word=word, concurrency=concurrency)


async def test_first_save_creates_version_one(store: Store, alice: Principal) -> None:
    saved = await store.definitions.save(alice, parse_definition(job()))
    assert saved.created
    assert saved.definition["version"] == 1
    assert saved.definition["max_concurrency"] == 5
    found = await store.definitions.get(alice, "hello")
    assert found["id"] == saved.definition["id"]
    assert [t["task_type"] for t in found["spec"]["tasks"]] == ["a", "b"]
    assert found["tags"] == "linux"
    assert found["methods"] == "SHELL"


async def test_identical_repost_is_a_no_op(store: Store, alice: Principal) -> None:
    first = await store.definitions.save(alice, parse_definition(job()))
    again = await store.definitions.save(alice, parse_definition(job()))
    assert not again.created
    assert again.definition["id"] == first.definition["id"]
    assert len(await store.definitions.versions(alice, "hello")) == 1


async def test_change_makes_a_new_version_and_carries_settings_over(store: Store, alice: Principal) -> None:
    first = await store.definitions.save(alice, parse_definition(job()))
    await store.definitions.set_concurrency(alice, "hello", 9)
    await store.definitions.set_disabled(alice, "hello", True)
    second = await store.definitions.save(alice, parse_definition(job(word="bye", concurrency=1)))
    assert second.created
    assert second.definition["version"] == 2
    assert second.definition["max_concurrency"] == 9  # carried over, the YAML's 1 ignored
    assert second.definition["disabled"] is True
    old = await store.definitions.get(alice, first.definition["id"])
    assert old["active"] is False
    assert (await store.definitions.get(alice, "hello"))["version"] == 2
    assert (await store.definitions.get(alice, "hello", version=1))["id"] == first.definition["id"]
    versions = await store.definitions.versions(alice, "hello")
    assert [v["version"] for v in versions] == [2, 1]


async def test_owners_do_not_see_each_other(store: Store, alice: Principal, bob: Principal) -> None:
    await store.definitions.save(alice, parse_definition(job()))
    with pytest.raises(NotFoundError):
        await store.definitions.get(bob, "hello")
    bobs = await store.definitions.save(bob, parse_definition(job()))
    assert bobs.created and bobs.definition["version"] == 1
    rows, total = await store.definitions.search(bob, DefinitionFilter(), page=0, page_size=10)
    assert total == 1 and rows[0]["owner_key"] == bob.user_id


async def test_list_filters_and_pages(store: Store, alice: Principal) -> None:
    for i in range(5):
        await store.definitions.save(alice, parse_definition(job(name=f"job-{i}")))
    await store.definitions.set_disabled(alice, "job-3", True)
    rows, total = await store.definitions.search(alice, DefinitionFilter(), page=1, page_size=2)
    assert total == 5 and [r["job_type"] for r in rows] == ["job-2", "job-3"]
    rows, total = await store.definitions.search(alice, DefinitionFilter(disabled=True), page=0, page_size=10)
    assert [r["job_type"] for r in rows] == ["job-3"]
    rows, total = await store.definitions.search(alice, DefinitionFilter(tags=["linux"]), page=0, page_size=10)
    assert total == 5
    rows, total = await store.definitions.search(alice, DefinitionFilter(tags=["windows"]), page=0, page_size=10)
    assert total == 0


async def test_delete_hides_every_version(store: Store, alice: Principal) -> None:
    await store.definitions.save(alice, parse_definition(job()))
    await store.definitions.save(alice, parse_definition(job(word="two")))
    await store.definitions.delete(alice, "hello")
    with pytest.raises(NotFoundError):
        await store.definitions.get(alice, "hello")
    again = await store.definitions.save(alice, parse_definition(job()))
    assert again.created and again.definition["version"] == 3


async def test_concurrent_saves_make_distinct_versions(store: Store, alice: Principal) -> None:
    results = await asyncio.gather(*(store.definitions.save(alice, parse_definition(job(word=f"w{i}")))
                                     for i in range(4)))
    versions = sorted(r.definition["version"] for r in results)
    assert versions == [1, 2, 3, 4]
    active = [v for v in await store.definitions.versions(alice, "hello") if v["active"]]
    assert len(active) == 1


async def test_job_configs_encrypt_secrets(store: Store, alice: Principal) -> None:
    plain = await store.job_configs.create(alice.owner_key, "hello", "region", "eu", False)
    secret = await store.job_configs.create(alice.owner_key, "hello", "password", "hunter2", True)
    assert plain["value"] == "eu"
    assert secret["value"] == "****"
    async with store.db.connect() as conn:
        from sqlalchemy import select

        from myrmica.store.tables import job_configs

        stored = (await conn.execute(select(job_configs.c.value).where(job_configs.c.id == secret["id"]))).scalar()
    assert stored is not None and "hunter2" not in stored
    values, secrets = await store.job_configs.plaintext(alice.owner_key, "hello")
    assert values == {"region": "eu", "password": "hunter2"}
    assert secrets == {"hunter2"}
    await store.job_configs.update(alice.owner_key, "hello", secret["id"], "password", "****", True)
    values, _ = await store.job_configs.plaintext(alice.owner_key, "hello")
    assert values["password"] == "hunter2"
    await store.job_configs.update(alice.owner_key, "hello", secret["id"], "password", "swordfish", True)
    values, _ = await store.job_configs.plaintext(alice.owner_key, "hello")
    assert values["password"] == "swordfish"


async def test_revoked_token_is_refused(store: Store, alice: Principal) -> None:
    issued = await store.accounts.issue_token(alice.user_id, "ci", "tok-1", "hash-1")
    assert (await store.accounts.principal_for_token("hash-1")) == alice
    await store.accounts.revoke_token(alice.user_id, issued.id)
    assert await store.accounts.principal_for_token("hash-1") is None
    with pytest.raises(NotFoundError):
        await store.accounts.revoke_token(alice.user_id, issued.id)
