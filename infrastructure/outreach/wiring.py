"""Assembles outreach for the composition root: tables beside the read models, the
follower over both logs, the guard, the senders and the delivery actor."""

from __future__ import annotations

import dramatiq
from sqlalchemy.engine import Engine

from application.alerts import Alerts
from application.auditstream import StreamSource
from application.outbox import Follower
from application.ports import Clock
from application.webhooks import AuditLog, Sealer, Webhooks
from infrastructure.outreach.alertstore import SqlAlertStore
from infrastructure.outreach.guard import AddressGuard
from infrastructure.outreach.jobs import OutreachJobs
from infrastructure.outreach.outbox import SqlOutbox
from infrastructure.outreach.sender import WebhookSender
from infrastructure.outreach.webhookstore import SqlWebhookStore
from infrastructure.settings import Settings


def build_outreach(
    settings: Settings,
    engine: Engine,
    source: StreamSource,
    sealer: Sealer,
    audit: AuditLog,
    clock: Clock,
    broker: dramatiq.Broker,
) -> tuple[Webhooks, Alerts, OutreachJobs]:
    outbox = SqlOutbox(engine)
    store = SqlWebhookStore(engine)
    guard = AddressGuard(settings.allow_loopback_webhooks)
    webhooks = Webhooks(store, guard, sealer, audit, clock, settings.allow_loopback_webhooks)
    alerts = Alerts(SqlAlertStore(engine), sealer, audit, clock)
    follower = Follower(source, outbox)
    follower.place()
    jobs = OutreachJobs(
        broker,
        follower,
        outbox,
        store,
        webhooks,
        WebhookSender(guard),
        alerts,
        clock,
        lease_ms=settings.outreach_lease_seconds * 1000,
        backoff_ms=settings.outreach_backoff_ms,
    )
    return webhooks, alerts, jobs
