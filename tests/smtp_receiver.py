"""A real SMTP server for alert tests (aiosmtpd), with a login the tests choose."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.e2e.conftest import free_port


class MailSink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    def __init__(self, user: str = "alerts", password: str = "smtp-pass-1") -> None:
        self.sink = MailSink()
        self.user, self.password = user, password
        self.port = free_port()
        self.controller = Controller(
            self.sink,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._auth,
            auth_require_tls=False,
        )
        self.controller.start()

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode() == self.user and data.password.decode() == self.password
        )
        return AuthResult(success=ok)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.sink.messages]

    def stop(self) -> None:
        self.controller.stop()
