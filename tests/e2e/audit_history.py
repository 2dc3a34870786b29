"""A scripted audit history for the audit query tests, and an oracle to check answers.

`script` drives a live server (vault changes and signed machine reads/refusals);
`insert_bulk` adds a chained lane of old access records straight into the store (a
valid lane, so the access log still verifies) to test CIDRs and the CSV cut without
10,000 HTTP reads. The oracle (`sort_key`, `matches_ip`) restates the query's rules
in plain Python over entries the server returned.
"""

from __future__ import annotations

import ipaddress
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from domain.accesschain import AccessEntry, chain, entry_values, lane_genesis
from domain.auditcatalogue import SEVERITY_RANK, severity_of
from infrastructure.accessstore.tables import COLUMNS
from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine, Operator, register_machine, signed

BULK_START_MS = 1_577_836_800_000  # 2020-01-01T00:00Z
BULK_END_MS = 1_609_459_200_000  # 2021-01-01T00:00Z
BULK_ROWS = 10_050
BULK_IPS = ("10.1.2.3", "10.200.0.9", "192.168.1.5", "2001:db8::5", "2001:db9::1", "system")
BULK_ACTIONS = ("secret_read", "secret_read_denied", "auth_failure")


@dataclass
class History:
    project: str
    secret_a: str
    secret_b: str
    reader: Machine  # granted secret A
    outsider: Machine  # in the project, no grant: refused


def script(live: LiveServer, op: Operator) -> History:
    project = op.project("payments")
    secret_a = op.secret(project, "stripe-key", "sk_live_query_a_91c2")
    secret_b = op.secret(project, "db-pass", "query-b-value-77")
    reader = register_machine(live, op, "reader", project_id=project, grants=(secret_a,))
    outsider = register_machine(live, op, "outsider", project_id=project)
    for _ in range(3):
        assert signed(live, reader, "GET", f"/v1/secret/{secret_a}").send().status_code == 200
    for _ in range(2):
        refused = signed(live, outsider, "GET", f"/v1/secret/{secret_a}").send()
        assert refused.status_code in (403, 404), refused.text
    op.replace(secret_a, "sk_live_query_a_rotated")
    op.delete(secret_b)
    return History(project, secret_a, secret_b, reader, outsider)


def bulk_entries() -> list[AccessEntry]:
    out = []
    for i in range(BULK_ROWS):
        action = BULK_ACTIONS[i % len(BULK_ACTIONS)]
        out.append(
            AccessEntry(
                timestamp_ms=BULK_START_MS + i * 1000,
                action=action,
                severity=severity_of(action).value,
                actor_kind="machine",
                source_ip=BULK_IPS[i % len(BULK_IPS)],
                detail=f"bulk row {i}",
                machine_id=f"bulk-m{i % 4}",
                secret_id="sk_bulkbulkbulk1" if i % 2 else None,
            )
        )
    return out


def insert_bulk(live: LiveServer) -> list[AccessEntry]:
    """A registered lane of BULK_ROWS chained records dated 2020, inserted directly."""
    lane = uuid.uuid4().hex
    entries = bulk_entries()
    rows = [
        (c.lane, c.seq, *entry_values(c.entry), c.prev_hash, c.hash)
        for c in chain(lane, 1, lane_genesis(lane), entries)
    ]
    columns = ", ".join(COLUMNS)
    lane_row = (lane, BULK_START_MS, "tests/e2e/audit_history.py")
    if live.settings.database_url is None:
        marks = ", ".join("?" * len(COLUMNS))
        with sqlite3.connect(live.settings.data_dir / "access.sqlite", timeout=30) as conn:
            conn.execute("INSERT INTO kl_access_lanes VALUES (?, ?, ?)", lane_row)
            conn.executemany(f"INSERT INTO kl_access_records ({columns}) VALUES ({marks})", rows)
    else:
        marks = ", ".join(["%s"] * len(COLUMNS))
        with psycopg.connect(live.settings.database_url) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO kl_access_lanes VALUES (%s, %s, %s)", lane_row)
            cur.executemany(f"INSERT INTO kl_access_records ({columns}) VALUES ({marks})", rows)
    return entries


def matches_ip(source_ip: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(source_ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def sort_key(entry: dict[str, Any], sort_by: str) -> tuple[Any, ...]:
    """The query's order restated: the sort field, then time, log, lane, sequence."""
    if entry["log"] == "access":
        lane, seq = entry["id"].split(":")
        tail: tuple[Any, ...] = (entry["log"], lane, int(seq))
    else:
        tail = (entry["log"], "", int(entry["id"]))
    first = {
        "timestamp": entry["timestamp"],
        "action": entry["action"],
        "severity": -SEVERITY_RANK[entry["severity"]],
        "sourceIp": entry["sourceIp"],
    }[sort_by]
    return (first, entry["timestamp"], *tail)
