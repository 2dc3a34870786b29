"""Webhooks in SQL: the settings an operator chose and the health the deliveries write."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from application.webhooks import Webhook
from infrastructure.outreach.tables import outbox, outreach_metadata, webhooks


def _webhook(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        url=row.url,
        actions=tuple(json.loads(row.actions)),
        enabled=bool(row.enabled),
        created_ms=row.created_ms,
        consecutive_failures=row.consecutive_failures,
        last_delivered_ms=row.last_delivered_ms,
        last_failed_ms=row.last_failed_ms,
        last_error=row.last_error,
    )


class SqlWebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        outreach_metadata.create_all(engine)

    def add(self, webhook: Webhook, sealed_secret: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                webhooks.insert().values(
                    webhook_id=webhook.webhook_id,
                    url=webhook.url,
                    actions=json.dumps(list(webhook.actions)),
                    secret_sealed=sealed_secret,
                    enabled=webhook.enabled,
                    created_ms=webhook.created_ms,
                    consecutive_failures=0,
                )
            )

    def get(self, webhook_id: str) -> Webhook | None:
        query = select(webhooks).where(webhooks.c.webhook_id == webhook_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _webhook(row)

    def all(self) -> list[Webhook]:
        query = select(webhooks).order_by(webhooks.c.created_ms, webhooks.c.webhook_id)
        with self.engine.connect() as conn:
            return [_webhook(r) for r in conn.execute(query)]

    def sealed_secret(self, webhook_id: str) -> bytes | None:
        query = select(webhooks.c.secret_sealed).where(webhooks.c.webhook_id == webhook_id)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else bytes(found)

    def set_enabled(self, webhook_id: str, enabled: bool) -> None:
        values: dict[str, Any] = {"enabled": enabled}
        if enabled:
            values.update(consecutive_failures=0, last_error=None)
        with self.engine.begin() as conn:
            conn.execute(
                update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(**values)
            )
            if enabled:  # what waited while it was off goes out now
                conn.execute(
                    update(outbox)
                    .where(outbox.c.target == webhook_id, outbox.c.state == "held")
                    .values(state="pending", next_attempt_ms=0, lease_until_ms=0)
                )

    def remove(self, webhook_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(webhooks).where(webhooks.c.webhook_id == webhook_id))
            conn.execute(
                update(outbox)
                .where(outbox.c.target == webhook_id, outbox.c.state.in_(("pending", "held")))
                .values(state="dropped")
            )

    def succeeded(self, webhook_id: str, now_ms: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(webhooks)
                .where(webhooks.c.webhook_id == webhook_id)
                .values(consecutive_failures=0, last_delivered_ms=now_ms)
            )

    def failed(self, webhook_id: str, error: str, now_ms: int) -> int:
        """Count one more failure in a row; returns the new count (0: webhook gone)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(webhooks)
                .where(webhooks.c.webhook_id == webhook_id)
                .values(
                    consecutive_failures=webhooks.c.consecutive_failures + 1,
                    last_failed_ms=now_ms,
                    last_error=error[:500],
                )
            )
            count = conn.execute(
                select(webhooks.c.consecutive_failures).where(webhooks.c.webhook_id == webhook_id)
            ).scalar()
        return int(count or 0)
