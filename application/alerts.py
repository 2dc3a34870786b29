"""Email alerts: which actions mail the operator, and the SMTP server that carries them.

The enabled set is replaced whole on every save (product-facts §12.1); an unknown
action is refused and nothing is saved. The SMTP password is sealed under the server
key and never returned. Mails are composed from the delivery body — audit metadata
only, so a secret value can never reach one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from application.ports import Clock
from application.webhooks import AuditLog, Sealer
from domain.audit import AuditStamp
from domain.auditcatalogue import BY_ACTION, CATALOGUE, Severity
from domain.errors import InvalidInput
from domain.outreach import humanise, parse_actions

SECURITIES = ("none", "starttls", "tls")
PASSWORD_AAD = b"keyledger smtp password"
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_HOST = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,253}$")


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    security: str = "none"
    user: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "from": self.sender,
            "to": list(self.to),
            "security": self.security,
            "user": self.user,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Smtp:
        return cls(
            data["host"],
            int(data["port"]),
            data["from"],
            tuple(data["to"]),
            data["security"],
            data.get("user"),
        )


@dataclass(frozen=True)
class AlertSettings:
    actions: tuple[str, ...] = ()
    smtp: Smtp | None = None
    password_sealed: bytes | None = field(default=None, repr=False)


class AlertStore(Protocol):
    def load(self) -> AlertSettings: ...

    def save_actions(self, actions: tuple[str, ...]) -> None: ...

    def save_smtp(self, smtp: Smtp, password_sealed: bytes | None) -> None: ...

    def recent_mail(self, limit: int) -> list[dict[str, Any]]: ...


def _email(text: str, what: str) -> str:
    text = text.strip()
    if not _EMAIL.fullmatch(text) or len(text) > 254:
        raise InvalidInput(f"{what} is not an email address")
    return text


def validate_smtp(
    host: str, port: int, sender: str, to: list[str], security: str, user: str | None
) -> Smtp:
    if not _HOST.fullmatch(host or ""):
        raise InvalidInput("SMTP host must be a host name or address")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("SMTP port must be between 1 and 65535")
    if security not in SECURITIES:
        raise InvalidInput(f"SMTP security must be one of {', '.join(SECURITIES)}")
    recipients = tuple(_email(t, "A recipient") for t in to if t.strip())
    if not recipients:
        raise InvalidInput("Alerts need at least one recipient (--to)")
    if user is not None and not 0 < len(user) <= 256:
        raise InvalidInput("SMTP user must be 1–256 characters")
    return Smtp(host, port, _email(sender, "The sender (--from)"), recipients, security, user)


def catalogue_json() -> list[dict[str, str]]:
    return [
        {
            "action": e.action,
            "name": humanise(e.action),
            "severity": e.severity.value,
            "category": e.category,
        }
        for e in CATALOGUE
    ]


class Alerts:
    def __init__(self, store: AlertStore, sealer: Sealer, audit: AuditLog, clock: Clock) -> None:
        self.store = store
        self.sealer = sealer
        self.audit = audit
        self.clock = clock

    def set_actions(self, actions: list[str], stamp: AuditStamp) -> tuple[str, ...]:
        chosen = parse_actions(actions, set(BY_ACTION))
        self.store.save_actions(chosen)
        shown = ", ".join(chosen) if chosen else "none"
        self.audit.record("alert_settings_update", stamp.with_detail(f"Alerts for: {shown}"))
        return chosen

    def set_severities(self, critical: bool, high: bool, stamp: AuditStamp) -> tuple[str, ...]:
        wanted = {Severity.CRITICAL} if critical else set()
        wanted |= {Severity.HIGH} if high else set()
        if not wanted:
            raise InvalidInput("Choose --actions, --all-critical or --all-high")
        chosen = [e.action for e in CATALOGUE if e.severity in wanted]
        return self.set_actions(chosen, stamp)

    def set_smtp(
        self, smtp: Smtp, password: str | None, stamp: AuditStamp, *, keep_password: bool = False
    ) -> Smtp:
        """No password clears it, unless `keep_password` (the dashboard's blank field)."""
        sealed = self.store.load().password_sealed if keep_password else None
        if password:
            sealed = self.sealer.seal_setting(password.encode(), PASSWORD_AAD)
        self.store.save_smtp(smtp, sealed)
        detail = f"SMTP {smtp.host}:{smtp.port} ({smtp.security}) to {', '.join(smtp.to)}"
        self.audit.record("alert_smtp_update", stamp.with_detail(detail))
        return smtp

    def settings(self) -> AlertSettings:
        return self.store.load()

    def password(self, settings: AlertSettings) -> str | None:
        if settings.password_sealed is None:
            return None
        return self.sealer.open_setting(settings.password_sealed, PASSWORD_AAD).decode()

    def status(self) -> dict[str, Any]:
        current = self.store.load()
        recent = self.store.recent_mail(20)
        return {
            "enabledActions": list(current.actions),
            "smtp": None if current.smtp is None else current.smtp.as_json(),
            "passwordSet": current.password_sealed is not None,
            "recent": recent,
            "failures": [r for r in recent if r["lastError"]],
        }

    def record_test(self, stamp: AuditStamp, outcome: str) -> None:
        self.audit.record("alert_test", stamp.with_detail(f"Sample alert mail: {outcome}"))
