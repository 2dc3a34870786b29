"""The email alert settings in SQL (one row) and the recent alert mails from the outbox."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from application.alerts import AlertSettings, Smtp
from application.outbox import EMAIL
from infrastructure.outreach.tables import alert_settings, outbox, outreach_metadata

ROW = "alerts"


class SqlAlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        outreach_metadata.create_all(engine)

    def load(self) -> AlertSettings:
        query = select(alert_settings).where(alert_settings.c.name == ROW)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return AlertSettings()
        smtp = Smtp.from_json(json.loads(row.smtp)) if row.smtp else None
        sealed = bytes(row.password_sealed) if row.password_sealed is not None else None
        return AlertSettings(tuple(json.loads(row.actions)), smtp, sealed)

    def _upsert(self, conn: Connection, **values: Any) -> None:
        values["updated_ms"] = int(time.time() * 1000)
        found = conn.execute(select(alert_settings.c.name).where(alert_settings.c.name == ROW))
        if found.first() is None:
            conn.execute(alert_settings.insert().values({"name": ROW, "actions": "[]", **values}))
        else:
            conn.execute(
                alert_settings.update().where(alert_settings.c.name == ROW).values(**values)
            )

    def save_actions(self, actions: tuple[str, ...]) -> None:
        with self.engine.begin() as conn:
            self._upsert(conn, actions=json.dumps(list(actions)))

    def save_smtp(self, smtp: Smtp, password_sealed: bytes | None) -> None:
        with self.engine.begin() as conn:
            self._upsert(conn, smtp=json.dumps(smtp.as_json()), password_sealed=password_sealed)

    def recent_mail(self, limit: int) -> list[dict[str, Any]]:
        query = (
            select(outbox)
            .where(outbox.c.kind == EMAIL)
            .order_by(outbox.c.created_ms.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            {
                "deliveryId": r["delivery_id"],
                "action": r["action"],
                "state": r["state"],
                "attempts": r["attempts"],
                "lastError": r["last_error"],
                "createdAt": r["created_ms"],
                "sentAt": r["done_ms"],
            }
            for r in rows
        ]
