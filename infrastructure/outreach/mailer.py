"""One alert mail per event over SMTP (plain, STARTTLS or implicit TLS)."""

from __future__ import annotations

import datetime
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from application.alerts import Smtp
from domain.outreach import humanise

TIMEOUT_S = 10.0


class MailFailed(Exception):
    """The SMTP server could not be reached or refused the mail (short message)."""


def compose(smtp: Smtp, body: bytes) -> EmailMessage:
    """The mail for one delivery body: audit metadata only, never a value."""
    event = json.loads(body)
    data = event["data"]
    when = datetime.datetime.fromtimestamp(event["timestamp"] / 1000, tz=datetime.UTC)
    title = humanise(event["event"])
    message = EmailMessage()
    message["Subject"] = f"[keyledger] {title} ({event['severity']})"
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.to)
    message["Message-ID"] = make_msgid(idstring=event["id"], domain="keyledger")
    message["X-Keyledger-Delivery-Id"] = event["id"]
    lines = [
        f"Action:     {title} ({event['event']})",
        f"Severity:   {event['severity']}",
        f"Detail:     {data['detail'] or '-'}",
        f"Secret ID:  {data['secretId'] or '-'}",
        f"Machine ID: {data['machineId'] or '-'}",
        f"Source IP:  {data['sourceIp'] or '-'}",
        f"Time:       {when.strftime('%Y-%m-%d %H:%M:%S')} UTC",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(smtp: Smtp, password: str | None, message: EmailMessage) -> None:
    try:
        if smtp.security == "tls":
            context = ssl.create_default_context()
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=TIMEOUT_S, context=context
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_S)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.user and password is not None:
                client.login(smtp.user, password)
            client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise MailFailed(f"SMTP {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailFailed(f"SMTP: {type(exc).__name__}") from None
