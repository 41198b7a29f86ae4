"""Users with passwords over a real store (SQLite and PostgreSQL): argon2id hashes at rest, checks of
right, wrong and unknown credentials, Tork's texts, only the admin creating users."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from myrmica.domain.errors import ConflictError, PermissionDeniedError, ValidationError
from myrmica.domain.principal import Principal
from myrmica.security.passwords import hash_password, needs_rehash, verify_password
from myrmica.service.users import Users
from myrmica.store.accounts import principal_of
from myrmica.store.store import Store
from myrmica.store.tables import users

ADMIN = Principal(user_id="admin-id", username="admin", admin=True)


async def test_a_user_is_created_with_a_hash_and_checked(store: Store, bob: Principal) -> None:
    service = Users(store.accounts, principal_of)
    created = await service.create(ADMIN, "tork-user", "pa55word", "Tork User")
    assert (created.username, created.name, created.has_password) == ("tork-user", "Tork User", True)
    async with store.db.connect() as conn:
        stored = (await conn.execute(select(users.c.password_hash).where(users.c.id == created.id))).scalar()
    assert str(stored).startswith("$argon2id$") and "pa55word" not in str(stored)
    principal = await service.authenticate("tork-user", "pa55word")
    assert principal is not None and principal.user_id == created.id and not principal.admin
    assert await service.authenticate("tork-user", "pa55word") == principal  # from the cache
    assert await service.authenticate("tork-user", "wrong") is None
    assert await service.authenticate("nobody", "pa55word") is None
    assert await service.authenticate("bob", "") is None  # a user without a password never matches


async def test_torks_texts_and_the_admin_rule(store: Store, bob: Principal) -> None:
    service = Users(store.accounts, principal_of)
    for username, password, text in (("", "p", "must provide username"), ("u", "", "must provide password")):
        with pytest.raises(ValidationError) as raised:
            await service.create(ADMIN, username, password)
        assert raised.value.message == text
    await service.create(ADMIN, "dup", "p")
    with pytest.raises(ConflictError) as conflict:
        await service.create(ADMIN, "dup", "q")
    assert conflict.value.message == "user already exists"
    with pytest.raises(PermissionDeniedError):
        await service.create(bob, "other", "p")
    with pytest.raises(ValidationError):
        await service.create(ADMIN, "a:b", "p")  # a colon cannot be sent in basic auth
    with pytest.raises(ValidationError):
        await service.create(ADMIN, "long", "p" * 1025)


def test_hashes_are_salted_and_checked_in_full() -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second and not needs_rehash(first)
    assert verify_password(first, "secret") and verify_password(second, "secret")
    assert not verify_password(first, "Secret") and not verify_password(None, "secret")
    assert not verify_password("not a hash", "secret") and not verify_password(first, "x" * 5000)
    with pytest.raises(ValueError):
        hash_password("")
