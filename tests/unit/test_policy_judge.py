"""The policy judge at every boundary: window edges, midnight wrap, DST, IPv6, counts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidInput
from domain.policyjudge import Allowed, Blocked, ReadContext, judge
from domain.policyrules import PolicyRules

OSLO = ZoneInfo("Europe/Oslo")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
NOW = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)


def ms(*parts: int, zone: ZoneInfo = OSLO) -> int:
    return int(datetime(*parts, tzinfo=zone).timestamp() * 1000)


def window(start: str, end: str, days: tuple[str, ...] = WEEKDAYS) -> PolicyRules:
    return PolicyRules(
        time_window_enabled=True,
        time_window_start=start,
        time_window_end=end,
        time_window_timezone="Europe/Oslo",
        time_window_days=days,
    ).validate(NOW, set())


def read(at_ms: int = NOW, ip: str = "10.1.2.3", **counts: int) -> ReadContext:
    return ReadContext(at_ms=at_ms, source_ip=ip, machine_id="m-1", **counts)  # type: ignore[arg-type]


def condition(rules: PolicyRules, context: ReadContext) -> str | None:
    found = judge(rules, context)
    return found.condition if isinstance(found, Blocked) else None


def test_window_edges_are_start_inclusive_end_exclusive() -> None:
    rules = window("08:00", "18:00")  # 2026-12-01 is a Tuesday
    assert condition(rules, read(ms(2026, 12, 1, 7, 59))) == "time_window"
    assert condition(rules, read(ms(2026, 12, 1, 8, 0))) is None
    assert condition(rules, read(ms(2026, 12, 1, 17, 59))) is None
    blocked = judge(rules, read(ms(2026, 12, 1, 18, 0)))
    assert isinstance(blocked, Blocked) and blocked.status == 403
    assert condition(rules, read(ms(2026, 12, 5, 12, 0))) == "time_window"  # Saturday


def test_window_wrapping_midnight_belongs_to_the_day_it_opens() -> None:
    rules = window("22:00", "06:00", days=("fri",))
    assert condition(rules, read(ms(2026, 12, 4, 21, 59))) == "time_window"
    assert condition(rules, read(ms(2026, 12, 4, 22, 0))) is None  # Friday night
    assert condition(rules, read(ms(2026, 12, 5, 5, 59))) is None  # Saturday small hours
    assert condition(rules, read(ms(2026, 12, 5, 6, 0))) == "time_window"
    assert condition(rules, read(ms(2026, 12, 5, 23, 0))) == "time_window"  # Sat night
    assert condition(rules, read(ms(2026, 12, 4, 3, 0))) == "time_window"  # Thu's night


def test_dst_change_day_uses_the_local_clock() -> None:
    # Oslo springs forward 2026-03-29 02:00 -> 03:00 (a Sunday), falls back 2026-10-25.
    rules = window("03:00", "04:00", days=("sun",))
    assert condition(rules, read(ms(2026, 3, 29, 1, 0, zone=UTC))) is None  # 03:00 CEST
    assert condition(rules, read(ms(2026, 3, 29, 0, 59, zone=UTC))) == "time_window"  # 01:59
    # 08:00 local is 07:00 UTC in summer and 08:00 UTC in winter: same window, both sides.
    morning = window("08:00", "09:00", days=("sun",))
    assert condition(morning, read(ms(2026, 10, 25, 6, 30, zone=UTC))) == "time_window"
    assert condition(morning, read(ms(2026, 10, 25, 7, 30, zone=UTC))) is None
    assert condition(morning, read(ms(2026, 3, 29, 6, 30, zone=UTC))) is None


def test_ip_allowlist_v4_v6_and_mapped_addresses() -> None:
    rules = PolicyRules(
        ip_allowlist_enabled=True, ip_allowlist_cidrs=("10.0.0.0/8", "2001:db8::/32")
    ).validate(NOW, set())
    assert condition(rules, read(ip="10.255.255.255")) is None
    assert condition(rules, read(ip="11.0.0.1")) == "ip_allowlist"
    assert condition(rules, read(ip="2001:db8:ffff::1")) is None
    assert condition(rules, read(ip="2001:db9::1")) == "ip_allowlist"
    assert condition(rules, read(ip="::ffff:10.0.0.1")) is None
    assert condition(rules, read(ip="testclient")) == "ip_allowlist"


def test_rate_caps_allow_exactly_n_and_say_when_to_retry() -> None:
    rules = PolicyRules(
        rate_cap_enabled=True, max_reads_per_minute=3, max_reads_per_day=5
    ).validate(NOW, set())
    at = NOW + 45_000
    assert condition(rules, read(at, reads_this_minute=2, reads_today=2)) is None
    blocked = judge(rules, read(at, reads_this_minute=3, reads_today=3))
    assert isinstance(blocked, Blocked) and blocked.status == 429
    assert blocked.retry_after == 15
    day = judge(rules, read(at, reads_this_minute=0, reads_today=5))
    assert isinstance(day, Blocked) and day.retry_after == 86_400 - 45


def test_ttl_retires_after_time_or_exactly_n_reads() -> None:
    rules = PolicyRules(ttl_enabled=True, ttl_expires_at=NOW + 1000, ttl_max_reads=2).validate(
        NOW, set()
    )
    assert condition(rules, read(NOW + 999, reads_total=1)) is None
    gone = judge(rules, read(NOW + 1000, reads_total=0))
    assert isinstance(gone, Blocked) and (gone.condition, gone.status) == ("ttl", 410)
    assert condition(rules, read(NOW, reads_total=2)) == "ttl"


def test_co_sign_blocks_others_but_not_the_co_signer() -> None:
    rules = PolicyRules(
        co_sign_enabled=True, co_sign_machine_id="m-2", co_sign_window_seconds=60
    ).validate(NOW, {"m-1", "m-2"})
    assert condition(rules, read()) == "co_sign"
    assert judge(rules, ReadContext(NOW, "10.0.0.1", "m-1", cosigned=True)) == Allowed()
    assert judge(rules, ReadContext(NOW, "10.0.0.1", "m-2")) == Allowed()


def test_rotate_after_n_marks_every_nth_read() -> None:
    rules = PolicyRules(rotate_after_reads_enabled=True, rotate_after_reads=3)
    assert judge(rules, read(reads_total=1)) == Allowed(rotate=False)
    assert judge(rules, read(reads_total=2)) == Allowed(rotate=True)


def test_a_toggled_off_axis_is_ignored_even_if_filled_in() -> None:
    rules = PolicyRules(ip_allowlist_enabled=False, ip_allowlist_cidrs=("not a cidr",))
    assert judge(rules.validate(NOW, set()), read(ip="1.2.3.4")) == Allowed()


def tw(start: str = "08:00", zone: str = "UTC", days: tuple[str, ...] = ("mon",)) -> dict:
    return dict(
        time_window_start=start,
        time_window_end="18:00",
        time_window_timezone=zone,
        time_window_days=days,
    )


@pytest.mark.parametrize(
    ("rules", "machines"),
    [
        (tw(zone="Mars/Base"), set()),
        (tw(zone="../etc/passwd"), set()),
        (tw(zone="Europe"), set()),  # a directory of the zone database, not a zone
        (tw(start="25:00"), set()),
        (tw(start="8:00"), set()),
        (tw(days=()), set()),
        (tw(days=("funday",)), set()),
        (dict(ip_allowlist_cidrs=("10.0.0.0/33",)), set()),
        (dict(ip_allowlist_cidrs=("2001:db8::/129",)), set()),
        (dict(ip_allowlist_cidrs=()), set()),
        (dict(max_reads_per_minute=0), set()),
        (dict(max_reads_per_day=-1), set()),
        (dict(max_reads_per_day=10**12), set()),
        (dict(co_sign_machine_id="stranger", co_sign_window_seconds=60), {"m-1"}),
        (dict(ttl_expires_at=NOW - 1), set()),
        (dict(ttl_max_reads=0), set()),
        (dict(rotate_after_reads=0), set()),
    ],
)
def test_strict_validation_of_enabled_axes(rules: dict[str, object], machines: set[str]) -> None:
    toggles = {
        "time_window": "time_window_enabled",
        "ip_allowlist": "ip_allowlist_enabled",
        "max_reads": "rate_cap_enabled",
        "co_sign": "co_sign_enabled",
        "ttl": "ttl_enabled",
        "rotate": "rotate_after_reads_enabled",
    }
    enabled = {flag: True for key, flag in toggles.items() if any(k.startswith(key) for k in rules)}
    with pytest.raises(InvalidInput):
        PolicyRules(**enabled, **rules).validate(NOW, machines)  # type: ignore[arg-type]
