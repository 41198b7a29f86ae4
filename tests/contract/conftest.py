from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from myrmica.domain.principal import Principal
from myrmica.security.crypto import SecretBox
from myrmica.store.store import Store, open_store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url, SecretBox("contract-test-key"))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def alice(store: Store) -> Principal:
    org = await store.accounts.create_org("acme")
    user = await store.accounts.create_user("alice", organization_id=org["id"])
    return Principal(user_id=user["id"], username="alice", organization_id=org["id"])


@pytest.fixture
async def bob(store: Store) -> Principal:
    user = await store.accounts.create_user("bob")
    return Principal(user_id=user["id"], username="bob")
