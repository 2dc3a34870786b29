"""RFC 5424 syslog messages with the audit fields as structured data.

`<PRI>1 TIMESTAMP HOSTNAME keyledger PROCID ACTION [keyledger@32473 …] DETAIL`.
PARAM-VALUEs escape `"`, `\\` and `]` (RFC 5424 §6.3.3). Control characters in the
message and in values become `#ooo` octal (rsyslog's convention), so one record stays
one line in a file or a newline-framed stream; over TCP the frame is octet-counted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.siem.record import PRODUCT, AuditRecord

SD_ID = "keyledger@32473"
FACILITY_LOG_AUDIT = 13
BOM = "\ufeff"

# RFC 5424 severities: 2 Critical, 3 Error, 4 Warning, 5 Notice, 6 Informational.
SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}


def _controls(value: str) -> str:
    return "".join(f"#{ord(c):03o}" if ord(c) < 32 or ord(c) == 127 else c for c in value)


def param_escape(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return _controls(escaped)


def _header_token(value: str, limit: int) -> str:
    """HOSTNAME, APP-NAME, PROCID, MSGID: printable US-ASCII without spaces, or `-`."""
    token = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return token or "-"


def rfc3339_ms(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"


def _structured_data(record: AuditRecord) -> str:
    params = {
        "id": record.id,
        "log": record.log,
        "severity": record.severity,
        "actorKind": record.actor_kind,
        "userId": record.user_id,
        "machineId": record.machine_id,
        "aiAgentId": record.ai_agent_id,
        "secretId": record.secret_id,
        "projectId": record.project_id,
        "sourceIp": record.source_ip,
    }
    body = "".join(f' {k}="{param_escape(v)}"' for k, v in params.items() if v is not None)
    return f"[{SD_ID}{body}]"


def syslog_message(
    record: AuditRecord,
    hostname: str,
    procid: str,
    facility: int = FACILITY_LOG_AUDIT,
) -> str:
    pri = facility * 8 + SYSLOG_SEVERITY.get(record.severity, 6)
    header = " ".join(
        (
            f"<{pri}>1",
            rfc3339_ms(record.timestamp_ms),
            _header_token(hostname, 255),
            _header_token(PRODUCT, 48),
            _header_token(procid, 128),
            _header_token(record.action, 32),
        )
    )
    message = _controls(record.detail)
    if not message:
        return f"{header} {_structured_data(record)}"
    if not message.isascii():
        message = BOM + message  # RFC 5424 §6.4: a UTF-8 MSG starts with the BOM
    return f"{header} {_structured_data(record)} {message}"
