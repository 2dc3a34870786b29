"""ArcSight CEF:0 lines, escaped per the CEF spec (Implementing ArcSight CEF, rev. 25).

Header fields escape `\\` and `|`; extension values escape `\\`, `=` and encode line
breaks as `\\n` / `\\r`, so a hostile detail line cannot forge a field or a record.
"""

from __future__ import annotations

from domain.siem.record import PRODUCT, VENDOR, AuditRecord

# CEF severity is 0–10: Low 0–3, Medium 4–6, High 7–8, Very-High 9–10.
CEF_SEVERITY = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}


def header_escape(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("|", "\\|")
    return escaped.replace("\r", " ").replace("\n", " ")  # a header is one line


def extension_escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _extension(record: AuditRecord) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str | None]] = [
        ("rt", str(record.timestamp_ms)),
        ("externalId", record.id),
        ("cat", record.log),
        ("act", record.action),
        ("outcome", "failure" if record.failed else "success"),
        ("src", record.ip),
        ("suser", record.actor_id),
        ("suid", record.user_id),
        ("cs1Label", "secretId" if record.secret_id else None),
        ("cs1", record.secret_id),
        ("cs2Label", "projectId" if record.project_id else None),
        ("cs2", record.project_id),
        ("cs3Label", "machineId" if record.machine_id else None),
        ("cs3", record.machine_id),
        ("cs4Label", "actorKind"),
        ("cs4", record.actor_kind),
        ("cs5Label", "sourceLabel" if record.ip is None else None),
        ("cs5", record.source_ip if record.ip is None else None),
        ("cs6Label", "aiAgentId" if record.ai_agent_id else None),
        ("cs6", record.ai_agent_id),
        ("msg", record.detail),
    ]
    return [(key, value) for key, value in pairs if value is not None]


def cef_line(record: AuditRecord, product_version: str) -> str:
    header = [
        "CEF:0",
        header_escape(VENDOR),
        header_escape(PRODUCT),
        header_escape(product_version),
        header_escape(record.action),
        header_escape(record.action.replace("_", " ")),
        str(CEF_SEVERITY.get(record.severity, 0)),
    ]
    extension = " ".join(f"{key}={extension_escape(value)}" for key, value in _extension(record))
    return "|".join(header) + "|" + extension
