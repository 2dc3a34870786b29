"""The audit query's store side on both stores: source addresses that are not addresses
never break a CIDR filter, and the embedded query connection cannot write.

Rows go straight into the read-model table (rm_audit_log holds nothing the events do
not; these test stores are thrown away), with source strings the HTTP layer could
never produce, so the PostgreSQL cast guard and the SQLite function see every shape.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import OperationalError

from domain.auditquery import parse_query
from infrastructure.database import audit_log
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build

SOURCES = (
    "10.0.0.1",
    "10.255.255.255",
    "11.0.0.1",
    "::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "testclient",
    "system",
    "1:2:3",
    ":::",
    "999.1.1.1",
    "10.0.0.1.5",
    "",
)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build(settings, load_key=False)
    rows = [
        {
            "log": "ledger",
            "notification_id": 10_000 + i,
            "action": "auth_failure",
            "severity": "medium",
            "actor_kind": "external",
            "source_ip": source,
            "detail": f"row {i}",
            "timestamp_ms": 1_000 + i,
        }
        for i, source in enumerate(SOURCES)
    ]
    with built.projector.engine.begin() as conn:
        conn.execute(insert(audit_log), rows)
    try:
        yield built
    finally:
        built.close()


def inside(source: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(source) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


CIDRS = ("10.0.0.0/8", "10.0.0.1/32", "0.0.0.0/0", "::/0", "2001:db8::/32", "::ffff:0:0/96")


def test_cidr_filter_skips_what_is_not_an_address(services: Services) -> None:
    for cidr in CIDRS:  # one store for all: building one is the slow part
        query, _ = parse_query({"sourceIp": [cidr], "to": ["1000000"], "pageSize": ["200"]})
        got = {r["source_ip"] for r in services.audit_search.rows(query, 0, 200)}
        expected = {s for s in SOURCES if inside(s, cidr)}
        assert got == expected, cidr
        assert expected, "every network here holds one of the rows"
        assert services.audit_search.total(query) == len(expected), cidr


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_the_embedded_query_connection_writes_nothing(services: Services) -> None:
    with services.audit_search.engine.connect() as conn:
        for statement in (
            "DELETE FROM rm_audit_log",
            "DELETE FROM acc.kl_access_records",
            "CREATE TABLE acc.sneaky (a)",
        ):
            with pytest.raises(OperationalError, match="readonly"):
                conn.execute(text(statement))
        left = conn.execute(text("SELECT count(*) FROM rm_audit_log")).scalar_one()
    assert left >= len(SOURCES)
