"""Machine lifetimes and guardrails, decided from the aggregate alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.audit import AuditStamp
from domain.enrollment import check_hostname_pattern, check_name_pattern
from domain.errors import Conflict, InvalidInput
from domain.machine import Machine
from domain.machineguard import DAY_MS, in_window, parse_duration_ms, parse_window

STAMP = AuditStamp.system()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def temp(expires: int, cidrs: list[str], hours: str | None = None) -> Machine:
    machine = Machine(
        machine_id="5f0c5d3e-3b7a-4f43-9e0e-6f3f0c3f0b11",
        name="m",
        public_key=b"\x01" * 32,
        hostname="h",
        replaces=None,
        audit=STAMP,
    )
    machine.make_temporary(expires, cidrs, hours, "UTC", STAMP)
    return machine


def test_durations_and_windows() -> None:
    assert parse_duration_ms("30d", "x") == 30 * DAY_MS
    assert parse_duration_ms("90s", "x") == 90_000
    for bad in ("", "0d", "1y", "-1h", "1.5h", "1h "):
        with pytest.raises(InvalidInput):
            parse_duration_ms(bad.strip() + ("x" if bad == "1h " else ""), "x")
    assert in_window("08:00-18:00", "UTC", ms("2026-12-01T08:00:00"))
    assert not in_window("08:00-18:00", "UTC", ms("2026-12-01T18:00:00"))
    assert in_window("22:00-06:00", "UTC", ms("2026-12-01T23:30:00"))  # wraps midnight
    assert not in_window("22:00-06:00", "UTC", ms("2026-12-01T12:00:00"))
    assert in_window("08:00-18:00", "Europe/Oslo", ms("2026-12-01T07:30:00"))  # 08:30 there
    for bad in ("8-18", "08:00-08:00", "24:00-01:00"):
        with pytest.raises(InvalidInput):
            parse_window(bad, "UTC")
    with pytest.raises(InvalidInput):
        parse_window("08:00-18:00", "Mars/Base")


def test_refusals_expiry_first_then_cidr_then_hours() -> None:
    now = ms("2026-12-01T12:00:00")
    machine = temp(now + 2 * 3600_000, ["10.0.0.0/8"], "13:00-14:00")
    assert machine.refusal("10.1.2.3", now) == (
        "outside the machine's hours 13:00-14:00 UTC",
        False,
    )
    assert machine.refusal("192.0.2.1", now) is not None
    assert machine.refusal("10.1.2.3", now + 2 * 3600_000) == (
        "machine has expired",
        True,
    )
    assert machine.refusal("::ffff:10.0.0.1", now + 3600_000 + 1000) is None  # 13:00:01


def test_extend_revert_and_sweep() -> None:
    now = ms("2026-12-01T12:00:00")
    machine = temp(now + 1000, [])
    machine.approve(STAMP)
    with pytest.raises(InvalidInput):
        machine.extend(now + 366 * DAY_MS, "too far", now, STAMP)
    with pytest.raises(Conflict):
        machine.revert_extension(STAMP)
    assert not machine.is_due(now) and machine.is_due(now + 1000)
    machine.expire(now + 1000, STAMP)
    assert not machine.enabled and not machine.may_authenticate
    machine.extend(now + DAY_MS, "migration", now + 2000, STAMP)
    assert machine.enabled and machine.expires_ms == now + DAY_MS  # the sweep's disable undone
    machine.revert_extension(STAMP)
    assert machine.expires_ms == now + 1000 and machine.extensions[0]["reverted"] is True


def test_patterns_are_bounded_and_checked() -> None:
    assert check_name_pattern("ci-{n}") == "ci-{n}"
    assert check_hostname_pattern("^runner-[0-9]+$") == "^runner-[0-9]+$"
    for bad in ("ci-{x}", "{", "x" * 101):
        with pytest.raises(InvalidInput):
            check_name_pattern(bad)
    for bad in ("(", "a" * 201):
        with pytest.raises(InvalidInput):
            check_hostname_pattern(bad)
