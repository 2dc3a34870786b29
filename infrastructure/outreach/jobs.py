"""The outreach actors and the leader's tick: follow the logs, hand out due deliveries.

The tick (leader only, inside the scheduler) moves the follower and leases due
outbox rows to the `keyledger.deliver` actor, which takes a delivery id only. The
actor makes one attempt and writes the outcome; a failed attempt is retried by a
delayed message after an exponential backoff with jitter, and by the dispatcher if
that message is lost (its lease runs out). A killed worker therefore costs a late
delivery with the same id and body, never a lost one (ADR 0019).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq

from application.alerts import Alerts
from application.outbox import EMAIL, WEBHOOK, Follower
from application.ports import Clock
from application.webhooks import Webhooks
from domain.errors import KeyledgerError
from domain.outreach import MAX_FAILURES, payload, retry_delay_ms
from infrastructure.jobs import QUEUE
from infrastructure.outreach import mailer
from infrastructure.outreach.outbox import SqlOutbox
from infrastructure.outreach.sender import DeliveryFailed, WebhookSender
from infrastructure.outreach.webhookstore import SqlWebhookStore

log = logging.getLogger("keyledger.outreach")

BACKOFF_CAP_MS = 3_600_000
KEEP_SETTLED_MS = 7 * 86_400_000  # settled deliveries stay a week for `alerts status`
PRUNE_EVERY_MS = 3_600_000
MAIL_ATTEMPTS = 8  # then the mail is marked failed (visible in `alerts status`)
Deliverer = Callable[[dict[str, Any]], None]


class OutreachJobs:
    def __init__(
        self,
        broker: dramatiq.Broker,
        follower: Follower,
        outbox: SqlOutbox,
        store: SqlWebhookStore,
        webhooks: Webhooks,
        sender: WebhookSender,
        alerts: Alerts,
        clock: Clock,
        lease_ms: int,
        backoff_ms: int,
    ) -> None:
        self.follower = follower
        self.outbox = outbox
        self.store = store
        self.webhooks = webhooks
        self.sender = sender
        self.clock = clock
        self.lease_ms = lease_ms
        self.backoff_ms = backoff_ms
        self.alerts = alerts
        self._pruned_ms = 0
        self.kinds: dict[str, Deliverer] = {WEBHOOK: self._webhook, EMAIL: self._email}
        self.deliver = dramatiq.Actor(
            self._deliver,
            broker=broker,
            actor_name="keyledger.deliver",
            queue_name=QUEUE,
            priority=0,
            options={"max_retries": 0},  # retries are the outbox's, with their own backoff
        )

    def tick(self) -> int:
        """Leader only: enqueue what the logs hold, then hand out what is due."""
        self.follower.drain()
        now = self.clock.now_ms()
        if now - self._pruned_ms >= PRUNE_EVERY_MS:
            self._pruned_ms = now
            self.outbox.prune(now - KEEP_SETTLED_MS)
        due = self.outbox.lease_due(self.clock.now_ms(), self.lease_ms)
        for delivery_id in due:
            self.deliver.send(delivery_id)
        return len(due)

    def send_sample(self, webhook_id: str) -> dict[str, Any]:
        """`webhook test`: one signed sample POST now, outside the outbox and the health."""
        webhook = self.webhooks.get(webhook_id)
        delivery_id = str(uuid.uuid4())
        now = self.clock.now_ms()
        record = sample_record(now, "webhook_test", f"A sample delivery to webhook {webhook_id}")
        body = payload(delivery_id, record)
        secret = self.webhooks.signing_secret(webhook_id)
        try:
            status = self.sender.post(webhook.url, secret, delivery_id, "webhook_test", body, now)
        except DeliveryFailed as exc:
            return {"deliveryId": delivery_id, "delivered": False, "error": str(exc)}
        return {"deliveryId": delivery_id, "delivered": True, "status": status}

    def _deliver(self, delivery_id: str) -> None:
        row = self.outbox.get(delivery_id)
        if row is None or row["state"] != "pending":
            return  # settled already: a duplicate message is harmless
        self.kinds[row["kind"]](row)

    def retry_later(self, row: dict[str, Any], error: str, give_up_after: int | None) -> None:
        attempts = row["attempts"] + 1
        if give_up_after is not None and attempts >= give_up_after:
            self.outbox.failed(row["delivery_id"], error, attempts, None, self.lease_ms)
            return
        wait = retry_delay_ms(attempts, self.backoff_ms, BACKOFF_CAP_MS, random.random())  # noqa: S311
        retry_at = self.clock.now_ms() + wait
        self.outbox.failed(row["delivery_id"], error, attempts, retry_at, self.lease_ms)
        self.deliver.send_with_options(args=(row["delivery_id"],), delay=wait)

    def _webhook(self, row: dict[str, Any]) -> None:
        delivery_id, webhook_id = row["delivery_id"], row["target"]
        webhook = self.store.get(webhook_id)
        if webhook is None:
            self.outbox.hold(delivery_id, "dropped")
            return
        if not webhook.enabled:
            self.outbox.hold(delivery_id)  # released when it is enabled again
            return
        body = bytes(row["body"])
        try:
            secret = self.webhooks.signing_secret(webhook_id)
            now = self.clock.now_ms()
            self.sender.post(webhook.url, secret, delivery_id, row["action"], body, now)
        except KeyledgerError as exc:  # sealed server: not the receiver's fault
            self.retry_later(row, str(exc), None)
            return
        except DeliveryFailed as exc:
            self._failed(row, str(exc))
            return
        self.outbox.delivered(delivery_id, self.clock.now_ms())
        self.store.succeeded(webhook_id, self.clock.now_ms())

    def _email(self, row: dict[str, Any]) -> None:
        settings = self.alerts.settings()
        if settings.smtp is None:
            self.retry_later(row, "SMTP is not configured", MAIL_ATTEMPTS)
            return
        try:
            password = self.alerts.password(settings)
            mailer.send(settings.smtp, password, mailer.compose(settings.smtp, bytes(row["body"])))
        except (KeyledgerError, mailer.MailFailed) as exc:
            log.warning("alert mail %s: %s", row["delivery_id"], exc)
            self.retry_later(row, str(exc), MAIL_ATTEMPTS)
            return
        self.outbox.delivered(row["delivery_id"], self.clock.now_ms())

    def send_sample_mail(self) -> dict[str, Any]:
        """`alerts test`: one sample mail now, through the configured SMTP server."""
        settings = self.alerts.settings()
        if settings.smtp is None:
            return {"sent": False, "error": "SMTP is not configured (keyledger alerts smtp …)"}
        now = self.clock.now_ms()
        delivery_id = str(uuid.uuid4())
        record = sample_record(now, "alert_test", "A sample alert from keyledger")
        message = mailer.compose(settings.smtp, payload(delivery_id, record))
        try:
            mailer.send(settings.smtp, self.alerts.password(settings), message)
        except (KeyledgerError, mailer.MailFailed) as exc:
            return {"sent": False, "error": str(exc), "deliveryId": delivery_id}
        return {"sent": True, "deliveryId": delivery_id, "to": list(settings.smtp.to)}

    def _failed(self, row: dict[str, Any], error: str) -> None:
        webhook_id = row["target"]
        count = self.store.failed(webhook_id, error, self.clock.now_ms())
        log.warning("webhook %s delivery %s: %s", webhook_id, row["delivery_id"], error)
        if count >= MAX_FAILURES:
            attempts = row["attempts"] + 1
            self.outbox.failed(row["delivery_id"], error, attempts, 0, 0)
            self.outbox.hold(row["delivery_id"])
            if count == MAX_FAILURES:  # exactly one attempt reaches the threshold
                self.webhooks.auto_disabled(webhook_id, error)
            return
        self.retry_later(row, error, None)


def sample_record(now_ms: int, action: str, detail: str) -> Any:
    """A made-up entry for `webhook test` / `alerts test` (no vault object behind it)."""
    from domain.siem.record import AuditRecord

    return AuditRecord(
        id="sample",
        log="ledger",
        timestamp_ms=now_ms,
        action=action,
        severity="info",
        actor_kind="user",
        source_ip="system",
        detail=detail,
    )
