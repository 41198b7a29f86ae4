"""The end-notice half of the outbox (store/run_signals.py) on SQLite: a notice is stored once, whoever
sweeps, and a second store of the same delivery key is a no-op."""

from __future__ import annotations

from pathlib import Path

from myrmica.clock import utcnow
from myrmica.domain.webhooks import STRAIT_V1, WebhookCall
from myrmica.security.crypto import SecretBox
from myrmica.store.store import open_store
from myrmica.store.tables import job_requests


async def test_an_end_notice_is_stored_once(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}", SecretBox("k"))
    try:
        now = utcnow()
        async with store.db.begin() as conn:  # a bare ended request row (the notice needs only its state)
            await conn.execute(job_requests.insert().values(
                id="01REQUEST00000000000000000", job_definition_id="d", owner_key="o", job_type="t",
                job_state="COMPLETED", params={}, scheduled_at=now, created_at=now, updated_at=now))
        await store.run_signals.want_end_notice("01REQUEST00000000000000000", {"url": "https://example.com/h",
                                                                               "secret_sealed": "", "job_id": "j",
                                                                               "project_id": "o"})
        (row,) = await store.run_signals.end_notices()
        assert row["end_webhook"]["url"] == "https://example.com/h"
        call = WebhookCall(url="https://example.com/h", body="{}", source=row["id"], signature=STRAIT_V1,
                           signing_secret="s3")
        assert await store.run_signals.notice_stored(row["id"], call, dedup_key="k1")
        assert not await store.run_signals.notice_stored(row["id"], call, dedup_key="k1")  # a racing sweep
        assert await store.run_signals.end_notices() == []
        first = await store.webhooks.add(call, dedup_key="k1")  # the same key again: the stored one
        (delivery,) = await store.webhooks.of_source(row["id"])
        assert first == delivery.id
        assert delivery.call.signature == STRAIT_V1 and delivery.call.signing_secret == "s3"
    finally:
        await store.close()
