"""Helpers for the dashboard's tests: a signed-in httpx client (cookies and CSRF token), and more users."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import httpx

from myrmica.security.crypto import SecretBox
from myrmica.security.tokens import generate_token, hash_token
from myrmica.store.store import open_store
from tests.support.live import LiveServer

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browserish:
    """An httpx client that keeps cookies like a browser, and the CSRF token of the last page it read."""

    client: httpx.Client
    csrf: str = ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        answer = self.client.get(path, **kwargs)  # type: ignore[arg-type]
        found = CSRF_INPUT.search(answer.text)
        if found:
            self.csrf = found.group(1)
        return answer

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> httpx.Response:
        fields = dict(data or {})
        if csrf:
            fields.setdefault("csrf", self.csrf)
        return self.client.post(path, data=fields)


def signed_in(server: LiveServer, token: str | None = None) -> Browserish:
    client = Browserish(httpx.Client(base_url=server.url, timeout=30, follow_redirects=False))
    client.get("/login")
    answer = client.post("/login", {"token": token or server.token, "next": "/requests"})
    assert answer.status_code == 303, answer.text
    return client


@dataclass
class User:
    user_id: str
    token: str


def make_user(server: LiveServer, name: str, org: str | None) -> User:
    """A user (in a new organisation named ``org``, or in none) with an API token."""

    async def make() -> User:
        store = await open_store(server.settings.effective_database_url, SecretBox("test-only"))
        try:
            org_row = await store.accounts.create_org(org) if org else None
            user = await store.accounts.create_user(name, organization_id=org_row["id"] if org_row else None)
            token = generate_token()
            await store.accounts.issue_token(user["id"], "login", token, hash_token(token))
            return User(user["id"], token)
        finally:
            await store.close()

    return asyncio.run(make())
