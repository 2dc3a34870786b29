"""The outbox in SQL: the follower's position and its deliveries, and their leases.

A delivery is handed to an actor under a lease (`lease_until_ms`): if the actor's
process dies, nobody records an outcome, the lease runs out and the dispatcher hands
the same row (same delivery id, same body) out again. Leases are taken with a
compare-and-set on the old lease, so two dispatchers never hand out one row at once.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Engine

from application.outbox import EMAIL, WEBHOOK, Delivery
from application.siemexport import Position
from infrastructure.outreach.tables import (
    alert_settings,
    outbox,
    outbox_position,
    outreach_metadata,
    webhooks,
)

NAME = "outreach"


class SqlOutbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        outreach_metadata.create_all(engine)

    # -- the follower ---------------------------------------------------------------

    def position(self) -> Position | None:
        query = select(outbox_position.c.position).where(outbox_position.c.name == NAME)
        with self.engine.connect() as conn:
            raw = conn.execute(query).scalar()
        return None if raw is None else Position.from_json(json.loads(raw))

    def enqueue(self, deliveries: list[Delivery], old: Position | None, new: Position) -> bool:
        now = _now()
        encoded = json.dumps(new.as_json())
        with self.engine.begin() as conn:
            if old is None:
                found = conn.execute(
                    select(outbox_position.c.name).where(outbox_position.c.name == NAME)
                ).first()
                if found is not None:
                    return False
                conn.execute(outbox_position.insert().values(name=NAME, position=encoded))
            else:
                moved = conn.execute(
                    update(outbox_position)
                    .where(
                        outbox_position.c.name == NAME,
                        outbox_position.c.position == json.dumps(old.as_json()),
                    )
                    .values(position=encoded)
                )
                if moved.rowcount != 1:
                    return False  # nothing was written in this transaction
            if deliveries:
                conn.execute(
                    outbox.insert(),
                    [
                        {
                            "delivery_id": d.delivery_id,
                            "kind": d.kind,
                            "target": d.target,
                            "action": d.action,
                            "body": d.body,
                            "state": "pending",
                            "attempts": 0,
                            "next_attempt_ms": 0,
                            "lease_until_ms": 0,
                            "created_ms": now,
                        }
                        for d in deliveries
                    ],
                )
        return True

    def subscriptions(self) -> dict[str, list[tuple[str, str]]]:
        routes: dict[str, list[tuple[str, str]]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(webhooks.c.webhook_id, webhooks.c.actions).where(webhooks.c.enabled)
            )
            for webhook_id, actions in rows:
                for action in json.loads(actions):
                    routes.setdefault(action, []).append((WEBHOOK, webhook_id))
            alerts = conn.execute(
                select(alert_settings.c.actions, alert_settings.c.smtp).where(
                    alert_settings.c.name == "alerts"
                )
            ).first()
        if alerts is not None and alerts.smtp:
            for action in json.loads(alerts.actions):
                routes.setdefault(action, []).append((EMAIL, EMAIL))
        return routes

    # -- the dispatcher and the actors ---------------------------------------------------

    def lease_due(self, now_ms: int, lease_ms: int, limit: int = 100) -> list[str]:
        """Pending rows whose attempt is due and whose lease ran out, now leased to us."""
        query = (
            select(outbox.c.delivery_id, outbox.c.lease_until_ms)
            .where(
                outbox.c.state == "pending",
                outbox.c.next_attempt_ms <= now_ms,
                outbox.c.lease_until_ms <= now_ms,
            )
            .order_by(outbox.c.created_ms)
            .limit(limit)
        )
        leased = []
        with self.engine.begin() as conn:
            for delivery_id, old_lease in conn.execute(query).all():
                taken = conn.execute(
                    update(outbox)
                    .where(
                        and_(
                            outbox.c.delivery_id == delivery_id,
                            outbox.c.state == "pending",
                            outbox.c.lease_until_ms == old_lease,
                        )
                    )
                    .values(lease_until_ms=now_ms + lease_ms)
                )
                if taken.rowcount == 1:
                    leased.append(delivery_id)
        return leased

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        query = select(outbox).where(outbox.c.delivery_id == delivery_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else dict(row)

    def _set(self, delivery_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.delivery_id == delivery_id, outbox.c.state == "pending")
                .values(**values)
            )

    def delivered(self, delivery_id: str, now_ms: int) -> None:
        self._set(delivery_id, state="delivered", done_ms=now_ms, last_error=None)

    def failed(
        self, delivery_id: str, error: str, attempts: int, retry_at_ms: int | None, lease_ms: int
    ) -> None:
        """An attempt failed: retry at `retry_at_ms` (its lease covers the wait), or give up."""
        if retry_at_ms is None:
            self._set(delivery_id, state="failed", attempts=attempts, last_error=error)
            return
        self._set(
            delivery_id,
            attempts=attempts,
            last_error=error,
            next_attempt_ms=retry_at_ms,
            lease_until_ms=retry_at_ms + lease_ms,
        )

    def hold(self, delivery_id: str, state: str = "held") -> None:
        self._set(delivery_id, state=state)

    def prune(self, before_ms: int) -> int:
        """Forget settled rows (delivered, failed, dropped) created before `before_ms`."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(outbox).where(
                    outbox.c.state.in_(("delivered", "failed", "dropped")),
                    outbox.c.created_ms < before_ms,
                )
            )
        return int(gone.rowcount or 0)

    def recent(self, kind: str, limit: int = 20) -> list[dict[str, Any]]:
        query = (
            select(outbox)
            .where(outbox.c.kind == kind)
            .order_by(outbox.c.created_ms.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _now() -> int:
    return int(time.time() * 1000)
