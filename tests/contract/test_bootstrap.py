"""First start of several queens on one fresh database: each finds or creates the admin and its token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from myrmica.security.bootstrap import Bootstrap, ensure_admin
from myrmica.security.crypto import SecretBox
from myrmica.security.tokens import hash_token
from myrmica.store.store import Store, open_store


async def _together(database_url: str, tmp_path: Path, configured_token: str) -> tuple[list[Bootstrap], Store]:
    stores = [await open_store(database_url, SecretBox("contract-test-key")) for _ in range(3)]
    try:
        boots = await asyncio.gather(*(
            ensure_admin(store.accounts, configured_token=configured_token, token_file=tmp_path / f"q{n}" / "token",
                         server_url="http://127.0.0.1:1") for n, store in enumerate(stores)))
    finally:
        for store in stores[1:]:
            await store.close()
    return list(boots), stores[0]


async def test_queens_bootstrapping_together_share_one_admin_and_the_configured_token(
        database_url: str, tmp_path: Path) -> None:
    boots, store = await _together(database_url, tmp_path, "myr_shared_token")
    try:
        assert len({boot.admin_user_id for boot in boots}) == 1
        principal = await store.accounts.principal_for_token(hash_token("myr_shared_token"))
        assert principal is not None and principal.user_id == boots[0].admin_user_id
    finally:
        await store.close()


async def test_queens_bootstrapping_together_each_get_a_working_token(database_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path / "credentials.json"))
    boots, store = await _together(database_url, tmp_path, "")
    try:
        assert len({boot.admin_user_id for boot in boots}) == 1
        for boot in boots:
            token = (boot.saved_to[0]).read_text().strip()
            principal = await store.accounts.principal_for_token(hash_token(token))
            assert principal is not None and principal.user_id == boot.admin_user_id
    finally:
        await store.close()
