"""The SIEM formats field by field, and every escape rule against hostile detail lines."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from domain.siem.cef import cef_line, extension_escape, header_escape
from domain.siem.formats import formatter
from domain.siem.ocsf import ocsf_event
from domain.siem.record import AuditRecord
from domain.siem.syslog import param_escape, rfc3339_ms, syslog_message

HOSTILE = 'pipe| eq= back\\ nl\nCR\r close] quote" héllo ✓ CEF:0|x|y'
READ = AuditRecord(
    id="4f2a:17",
    log="access",
    timestamp_ms=1_764_598_578_123,  # 2025-12-01T14:16:18.123Z
    action="secret_read",
    severity="info",
    actor_kind="machine",
    source_ip="10.1.2.3",
    detail=HOSTILE,
    user_id="usr_1",
    machine_id="mch_1",
    secret_id="sk_1",
    project_id="proj_1",
)


def test_jsonl_is_one_line_with_every_audit_field() -> None:
    line = formatter("jsonl", "0.1.0", "h", "1").render(READ)
    assert "\n" not in line and "\r" not in line
    assert json.loads(line) == {
        "id": "4f2a:17",
        "log": "access",
        "action": "secret_read",
        "severity": "info",
        "actorKind": "machine",
        "userId": "usr_1",
        "machineId": "mch_1",
        "aiAgentId": None,
        "secretId": "sk_1",
        "projectId": "proj_1",
        "sourceIp": "10.1.2.3",
        "detail": HOSTILE,
        "timestamp": 1_764_598_578_123,
    }


def test_ocsf_api_activity_for_a_secret_read() -> None:
    event = json.loads(formatter("ocsf", "0.1.0", "h", "1").render(READ))
    assert (event["class_uid"], event["category_uid"], event["activity_id"]) == (6003, 6, 2)
    assert event["type_uid"] == 600302
    assert (event["severity_id"], event["severity"]) == (1, "Informational")
    assert (event["status_id"], event["status"]) == (1, "Success")
    assert event["time"] == 1_764_598_578_123
    assert event["message"] == HOSTILE
    assert event["actor"] == {"user": {"uid": "mch_1", "type_id": 99, "type": "machine"}}
    assert event["src_endpoint"] == {"ip": "10.1.2.3"}
    assert event["metadata"] == {
        "uid": "4f2a:17",
        "version": "1.1.0",
        "log_name": "access",
        "product": {"name": "keyledger", "vendor_name": "keyledger", "version": "0.1.0"},
    }
    assert event["api"]["operation"] == "secret_read"
    assert event["resources"] == [
        {"uid": "sk_1", "type": "secret"},
        {"uid": "proj_1", "type": "project"},
    ]
    assert event["unmapped"]["keyledger"] == READ.fields()


@pytest.mark.parametrize(
    ("action", "severity", "class_uid", "category_uid", "activity_id", "severity_id", "status"),
    [
        ("secret_create", "info", 6003, 6, 1, 1, 1),
        ("secret_update", "medium", 6003, 6, 3, 3, 1),
        ("secret_rotate", "medium", 6003, 6, 3, 3, 1),
        ("secret_delete", "high", 6003, 6, 4, 4, 1),
        ("secret_read_denied", "medium", 6003, 6, 2, 3, 2),
        ("canary_triggered", "critical", 6003, 6, 99, 5, 1),
        ("auth_failure", "medium", 3002, 3, 1, 3, 2),
        ("user_login", "info", 3002, 3, 1, 1, 1),
        ("user_logout", "info", 3002, 3, 2, 1, 1),
        ("machine_register", "medium", 3001, 3, 1, 3, 1),
        ("machine_approve", "medium", 3001, 3, 2, 3, 1),
        ("machine_disable", "medium", 3001, 3, 5, 3, 1),
        ("machine_revoke", "high", 3001, 3, 6, 4, 1),
        ("permission_grant", "medium", 3001, 3, 7, 3, 1),
        ("permission_revoke", "medium", 3001, 3, 8, 3, 1),
    ],
)
def test_ocsf_classes_activities_and_severities(
    action: str,
    severity: str,
    class_uid: int,
    category_uid: int,
    activity_id: int,
    severity_id: int,
    status: int,
) -> None:
    event = ocsf_event(replace(READ, action=action, severity=severity), "0.1.0")
    got = (event["class_uid"], event["category_uid"], event["activity_id"])
    assert got == (class_uid, category_uid, activity_id)
    assert event["type_uid"] == class_uid * 100 + activity_id
    assert (event["severity_id"], event["status_id"]) == (severity_id, status)
    if class_uid != 6003:  # the account acted upon / authenticating
        assert event["user"] == {"uid": "mch_1", "type_id": 99, "type": "machine"}


def test_ocsf_sentinel_source_is_a_name_not_an_ip() -> None:
    event = ocsf_event(replace(READ, source_ip="system", actor_kind="system"), "0.1.0")
    assert event["src_endpoint"] == {"name": "system"}
    assert event["actor"] == {"user": {"type_id": 3, "type": "system"}}


def test_cef_escaping_rules() -> None:
    assert header_escape("a|b\\c") == "a\\|b\\\\c"
    assert header_escape("x\ny") == "x y"
    assert extension_escape("a=b\\c|d") == "a\\=b\\\\c|d"  # pipes are literal in extensions
    assert extension_escape("1\r\n2\n3\r4") == "1\\n2\\n3\\r4"


def test_cef_header_and_extension_field_by_field() -> None:
    line = cef_line(replace(READ, action="secret_read_denied", severity="medium"), "1.2|3")
    assert "\n" not in line and "\r" not in line
    # Split the header on unescaped pipes only.
    parts = re.split(r"(?<!\\)\|", line, maxsplit=7)
    assert parts[:7] == [
        "CEF:0",
        "keyledger",
        "keyledger",
        "1.2\\|3",
        "secret_read_denied",
        "secret read denied",
        "5",
    ]
    pairs = re.findall(r"(\w+)=((?:\\.|[^\\=])*?)(?= \w+=|$)", parts[7])
    ext = dict(pairs)
    assert ext == {
        "rt": "1764598578123",
        "externalId": "4f2a:17",
        "cat": "access",
        "act": "secret_read_denied",
        "outcome": "failure",
        "src": "10.1.2.3",
        "suser": "mch_1",
        "suid": "usr_1",
        "cs1Label": "secretId",
        "cs1": "sk_1",
        "cs2Label": "projectId",
        "cs2": "proj_1",
        "cs3Label": "machineId",
        "cs3": "mch_1",
        "cs4Label": "actorKind",
        "cs4": "machine",
        "msg": extension_escape(HOSTILE),
    }
    assert ext["msg"] == 'pipe| eq\\= back\\\\ nl\\nCR\\r close] quote" héllo ✓ CEF:0|x|y'


def test_cef_sentinel_source_goes_to_a_labelled_string() -> None:
    line = cef_line(replace(READ, source_ip="stripe"), "0.1.0")
    assert " src=" not in line
    assert "cs5Label=sourceLabel cs5=stripe" in line


def test_syslog_header_and_structured_data() -> None:
    message = syslog_message(READ, "vault-1.example", "4242")
    header, rest = message.split(" [", 1)
    # facility 13 (log audit) * 8 + severity 6 (informational)
    assert header == "<110>1 2025-12-01T14:16:18.123Z vault-1.example keyledger 4242 secret_read"
    sd, msg = rest.split("] \ufeff", 1)
    assert sd == (
        'keyledger@32473 id="4f2a:17" log="access" severity="info" actorKind="machine" '
        'userId="usr_1" machineId="mch_1" secretId="sk_1" projectId="proj_1" sourceIp="10.1.2.3"'
    )
    assert msg == 'pipe| eq= back\\ nl#012CR#015 close] quote" héllo ✓ CEF:0|x|y'
    assert "\n" not in message


@pytest.mark.parametrize(
    ("severity", "pri"), [("critical", 106), ("high", 107), ("medium", 108), ("low", 109)]
)
def test_syslog_pri_from_facility_and_severity(severity: str, pri: int) -> None:
    assert syslog_message(replace(READ, severity=severity), "h", "1").startswith(f"<{pri}>1 ")
    assert syslog_message(replace(READ, severity=severity), "h", "1", facility=4).startswith(
        f"<{32 + pri - 104}>1 "
    )


def test_syslog_param_value_escaping() -> None:
    assert param_escape('a"b\\c]d') == 'a\\"b\\\\c\\]d'
    assert param_escape("x\ny") == "x#012y"
    hostile = syslog_message(replace(READ, secret_id='s"]x\\'), "h", "1")
    assert 'secretId="s\\"\\]x\\\\"' in hostile


def test_syslog_header_tokens_and_ascii_message() -> None:
    message = syslog_message(replace(READ, detail="plain"), "bad host\n", "")
    assert message.startswith("<110>1 2025-12-01T14:16:18.123Z badhost keyledger - secret_read [")
    assert message.endswith("] plain")  # ASCII: no BOM
    empty = syslog_message(replace(READ, detail=""), "h", "1")
    assert empty.endswith('sourceIp="10.1.2.3"]')
    assert rfc3339_ms(5) == "1970-01-01T00:00:00.005Z"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        formatter("xml", "0.1.0", "h", "1")
