"""Starting and stopping the parts of a server process in order: store, accounts, engine."""

from __future__ import annotations

import logging
from typing import Protocol

from myrmica.api.context import AppContext
from myrmica.clock import utcnow
from myrmica.config import Settings
from myrmica.metrics import Metrics
from myrmica.security.bootstrap import ensure_admin
from myrmica.security.crypto import SecretBox, load_or_create_key
from myrmica.security.private_files import secure_data_dir
from myrmica.store.accounts import principal_of
from myrmica.store.store import Store, open_store

log = logging.getLogger("myrmica")


class Service(Protocol):
    async def start(self, ctx: AppContext) -> None: ...
    async def stop(self) -> None: ...


class Runtime:
    def __init__(self, settings: Settings, services: list[Service] | None = None) -> None:
        self.settings = settings
        self.services: list[Service] = list(services or [])
        self.ctx: AppContext | None = None
        self._store: Store | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    async def start(self) -> AppContext:
        settings = self.settings
        secure_data_dir(settings.data_dir)
        box = SecretBox(load_or_create_key(settings.secret_key, settings.data_dir))
        self._store = store = await open_store(settings.effective_database_url, box)
        boot = await ensure_admin(store.accounts, configured_token=settings.admin_token,
                                  token_file=settings.admin_token_file, server_url=self.url)
        if boot.new_token:
            log.warning("created the admin user and an API token; saved to %s",
                        ", ".join(str(p) for p in boot.saved_to))
        if not settings.auth_enabled:
            log.warning("authentication is DISABLED: every caller acts as admin. For local experiments only.")
        admin = principal_of(await store.accounts.user(boot.admin_user_id))
        self.ctx = AppContext(settings=settings, store=store, metrics=Metrics(), admin=admin,
                              started_at=utcnow())
        for service in self.services:
            await service.start(self.ctx)
        return self.ctx

    async def stop(self) -> None:
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("error while stopping %s", type(service).__name__)
        if self._store is not None:
            await self._store.close()
