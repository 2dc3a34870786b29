"""OCSF 1.1 events: API Activity (6003), Authentication (3002), Account Change (3001).

Secret and vault changes and reads are API activity on a keyledger resource; logins,
logouts and failed authentications are Authentication; a machine's (or user's)
lifecycle and what it is allowed to reach are Account Change. Every event keeps the
keyledger fields verbatim under `unmapped`, so nothing is lost in the mapping.
"""

from __future__ import annotations

from typing import Any

from domain.siem.record import PRODUCT, VENDOR, AuditRecord

OCSF_VERSION = "1.1.0"

API_ACTIVITY, AUTHENTICATION, ACCOUNT_CHANGE = 6003, 3002, 3001
CATEGORY = {API_ACTIVITY: 6, AUTHENTICATION: 3, ACCOUNT_CHANGE: 3}
CLASS_NAME = {
    API_ACTIVITY: "API Activity",
    AUTHENTICATION: "Authentication",
    ACCOUNT_CHANGE: "Account Change",
}
CATEGORY_NAME = {6: "Application Activity", 3: "Identity & Access Management"}

SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAME = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}

# Authentication: 1 Logon, 2 Logoff (a failed authentication is a failed logon).
AUTH_ACTIVITY = {"auth_failure": 1, "user_login": 1, "user_logout": 2, "session_revoke": 2}

# Account Change: 1 Create, 2 Enable, 5 Disable, 6 Delete, 7 Attach Policy, 8 Detach Policy.
ACCOUNT_ACTIVITY = {
    "machine_register": 1,
    "temp_machine_create": 1,
    "user_create": 1,
    "machine_approve": 2,
    "machine_enable": 2,
    "machine_deny": 5,
    "machine_disable": 5,
    "machine_revoke": 6,
    "user_delete": 6,
    "machine_rename": 99,
    "permission_grant": 7,
    "project_machine_add": 7,
    "permission_revoke": 8,
    "project_machine_remove": 8,
}

# API Activity: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other — by the action's verb.
API_VERBS = (
    (("_create", "_register", "_add", "_enable"), 1),
    (("_read", "_read_denied", "_sync"), 2),
    (("_delete", "_purge", "_remove", "_revoke"), 4),
)
API_UPDATE_WORDS = ("update", "rename", "rotate", "restore", "disable", "pause", "resume", "bind")


def class_of(action: str) -> int:
    if action in AUTH_ACTIVITY:
        return AUTHENTICATION
    if action in ACCOUNT_ACTIVITY:
        return ACCOUNT_CHANGE
    return API_ACTIVITY


def activity_of(action: str) -> int:
    if action in AUTH_ACTIVITY:
        return AUTH_ACTIVITY[action]
    if action in ACCOUNT_ACTIVITY:
        return ACCOUNT_ACTIVITY[action]
    for suffixes, activity in API_VERBS:
        if action.endswith(suffixes):
            return activity
    if any(word in action for word in API_UPDATE_WORDS):
        return 3
    return 99


def _user(uid: str | None, kind: str) -> dict[str, Any]:
    type_id = {"user": 1, "system": 3}.get(kind, 99)
    out: dict[str, Any] = {"type_id": type_id, "type": kind}
    if uid is not None:
        out["uid"] = uid
    return out


def _target(record: AuditRecord) -> dict[str, Any]:
    """The account acted upon: a machine if the record names one, else the user."""
    if record.machine_id is not None:
        return {"uid": record.machine_id, "type_id": 99, "type": "machine"}
    return _user(record.user_id, "user")


def _resources(record: AuditRecord) -> list[dict[str, Any]]:
    pairs = (("secret", record.secret_id), ("project", record.project_id))
    return [{"uid": uid, "type": kind} for kind, uid in pairs if uid is not None]


def ocsf_event(record: AuditRecord, product_version: str) -> dict[str, Any]:
    class_uid = class_of(record.action)
    activity_id = activity_of(record.action)
    category_uid = CATEGORY[class_uid]
    severity_id = SEVERITY_ID.get(record.severity, 0)
    src: dict[str, Any] = {"ip": record.ip} if record.ip else {"name": record.source_ip}
    event: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": CLASS_NAME[class_uid],
        "category_uid": category_uid,
        "category_name": CATEGORY_NAME[category_uid],
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": severity_id,
        "severity": SEVERITY_NAME.get(severity_id, "Unknown"),
        "status_id": 2 if record.failed else 1,
        "status": "Failure" if record.failed else "Success",
        "time": record.timestamp_ms,
        "message": record.detail,
        "actor": {"user": _user(record.actor_id, record.actor_kind)},
        "src_endpoint": src,
        "metadata": {
            "uid": record.id,
            "version": OCSF_VERSION,
            "log_name": record.log,
            "product": {"name": PRODUCT, "vendor_name": VENDOR, "version": product_version},
        },
        "unmapped": {"keyledger": record.fields()},
    }
    if class_uid == API_ACTIVITY:
        event["api"] = {"operation": record.action, "service": {"name": PRODUCT}}
        event["resources"] = _resources(record)
    else:
        event["user"] = _target(record)
    return event
