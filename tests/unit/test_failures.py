"""Folding unauthenticated failures, and the backoff for logins and unseal keys.

A settable clock drives both; the access log is the real one (SQLite in tmp_path).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from application.accesslog import RecordWriter
from application.failures import AuthFailures, source_key
from application.throttle import Backoff, LoginThrottle
from domain.errors import TooManyAttempts
from infrastructure.accessstore.store import SqlAccessStore

T0 = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def now_ms(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqlAccessStore]:
    access = SqlAccessStore.embedded(tmp_path / "access.sqlite", "test", lambda: 0)
    yield access
    access.close()


@pytest.fixture
def failures(log: SqlAccessStore, clock: Clock) -> Iterator[AuthFailures]:
    records = RecordWriter(log, clock)
    yield AuthFailures(records, clock, interval_ms=60_000, burst=5)
    records.close()


def written(log: SqlAccessStore) -> list[dict[str, Any]]:
    rows = sorted(log.newest(10_000, 0), key=lambda r: r.seq)
    return [{"ip": r.entry.source_ip, "detail": r.entry.detail} for r in rows]


def test_first_failures_are_written_at_once_the_rest_folded(
    failures: AuthFailures, log: SqlAccessStore, clock: Clock
) -> None:
    for n in range(200):
        failures.record("203.0.113.9", "bad signature" if n % 2 else "unknown machine")
    assert len(written(log)) == 5  # the burst, each with its reason
    clock.advance(59)
    failures.flush()
    assert len(written(log)) == 5  # the interval is still open
    clock.advance(1)
    failures.flush()
    records = written(log)
    assert len(records) == 6
    assert records[-1] == {
        "ip": "203.0.113.9",
        "detail": "×195 in 60 s: bad signature ×98, unknown machine ×97",
    }


def test_next_failure_after_the_interval_writes_the_fold(
    failures: AuthFailures, log: SqlAccessStore, clock: Clock
) -> None:
    for _ in range(8):
        failures.record("203.0.113.9", "wrong setup code")
    clock.advance(61)
    failures.record("203.0.113.9", "wrong setup code")
    details = [r["detail"] for r in written(log)]
    assert details.count("×3 in 60 s: wrong setup code ×3") == 1
    assert details.count("wrong setup code") == 6  # a new interval: written at once


def test_sources_are_folded_separately_and_ipv6_by_64(
    failures: AuthFailures, log: SqlAccessStore
) -> None:
    for n in range(6):
        failures.record("198.51.100.1", "x")
        failures.record("198.51.100.2", "x")
        failures.record(f"2001:db8:1:2::{n:x}", "x")
    failures.flush(everything=True)
    ips = [r["ip"] for r in written(log)]
    for ip in ("198.51.100.1", "198.51.100.2"):
        assert ips.count(ip) == 5 + 1  # the burst, then one folded record
    assert ips.count("2001:db8:1:2::/64") == 1  # one /64 is one source
    assert sum(ip.startswith("2001:db8:1:2::") for ip in ips) == 5 + 1
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"


def test_shutdown_flush_writes_every_open_fold(failures: AuthFailures, log: SqlAccessStore) -> None:
    for _ in range(7):
        failures.record("192.0.2.1", "operator login failed")
    failures.flush(everything=True)
    assert written(log)[-1]["detail"] == "×2 in 60 s: operator login failed ×2"


def test_backoff_doubles_after_the_free_failures(clock: Clock) -> None:
    backoff = Backoff(clock, free=3, max_delay_ms=8000)
    for _ in range(3):
        backoff.check("k")
        backoff.failed("k")
    waits = []
    for _ in range(6):
        waits.append(backoff.wait_ms("k"))
        clock.advance(waits[-1] / 1000)
        backoff.check("k")
        backoff.failed("k")
    assert waits == [1000, 2000, 4000, 8000, 8000, 8000]
    with pytest.raises(TooManyAttempts) as info:
        backoff.check("k")
    assert info.value.retry_after_seconds == 8
    backoff.clear("k")
    backoff.check("k")


def test_login_lockout_at_one_address_spares_the_owner_at_another(clock: Clock) -> None:
    throttle = LoginThrottle(clock)
    owner, attacker = "198.51.100.7", "203.0.113.66"
    throttle.succeeded("owner@example.com", owner)  # the owner's usual address
    for _ in range(5):
        throttle.check("owner@example.com", attacker)
        throttle.failed("owner@example.com", attacker)
    with pytest.raises(TooManyAttempts):
        throttle.check("owner@example.com", attacker)
    throttle.check("owner@example.com", owner)
    throttle.check("owner@example.com", "192.0.2.200")  # any other address too


def test_account_wide_wait_is_short_and_skips_known_addresses(clock: Clock) -> None:
    throttle = LoginThrottle(clock)
    throttle.succeeded("owner@example.com", "198.51.100.7")
    for n in range(40):  # a guesser with many addresses, each under its own limit
        throttle.failed("owner@example.com", f"203.0.113.{n}")
    with pytest.raises(TooManyAttempts) as info:
        throttle.check("owner@example.com", "192.0.2.200")
    assert info.value.retry_after_seconds <= 60
    throttle.check("owner@example.com", "198.51.100.7")  # the owner's known address
    clock.advance(60)
    throttle.check("owner@example.com", "192.0.2.200")
