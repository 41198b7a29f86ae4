"""First start: an admin user and a token, saved where the CLI finds it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from myrmica.domain.errors import ConflictError
from myrmica.security.private_files import credentials_path, save_credentials, write_private
from myrmica.security.tokens import generate_token, hash_token
from myrmica.store.accounts import AccountRepository

ADMIN_USERNAME = "admin"
__all__ = ["Bootstrap", "credentials_path", "ensure_admin", "save_credentials"]


@dataclass(frozen=True)
class Bootstrap:
    admin_user_id: str
    new_token: str | None  # set only when a token was just created
    saved_to: list[Path]


async def ensure_admin(accounts: AccountRepository, *, configured_token: str, token_file: Path,
                       server_url: str) -> Bootstrap:
    # Queens started together on a fresh database race to create the admin, then its configured
    # token; a loser reads what the winner wrote. Each step can be lost once, so three passes suffice.
    for _ in range(2):
        try:
            return await _ensure_admin(accounts, configured_token, token_file, server_url)
        except (ConflictError, IntegrityError):
            continue
    return await _ensure_admin(accounts, configured_token, token_file, server_url)


async def _ensure_admin(accounts: AccountRepository, configured_token: str, token_file: Path,
                        server_url: str) -> Bootstrap:
    admin = await accounts.user_by_name(ADMIN_USERNAME)
    if admin is None:
        admin = await accounts.create_user(ADMIN_USERNAME, admin=True, roles="Admin")
    if configured_token:
        if await accounts.principal_for_token(hash_token(configured_token)) is None:
            await accounts.issue_token(admin["id"], "configured", configured_token, hash_token(configured_token))
        return Bootstrap(admin["id"], None, [])
    if token_file.exists():
        saved = token_file.read_text().strip()
        if saved and await accounts.principal_for_token(hash_token(saved)) is not None:
            return Bootstrap(admin["id"], None, [token_file])
    token = generate_token()
    await accounts.issue_token(admin["id"], "bootstrap", token, hash_token(token))
    write_private(token_file, token + "\n")
    saved_to = [token_file, save_credentials(server_url, token)]
    return Bootstrap(admin["id"], token, saved_to)
