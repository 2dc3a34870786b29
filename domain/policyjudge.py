"""`judge(rules, read)`: would this read be allowed under a policy? Pure; time is an input.

The gate and the dry-run both ask it. Axes are judged in a fixed order, the first
failing one named: TTL (410, the secret is retired), time window, IP allowlist,
co-sign (403), then the rate caps (429, last, so only reads that pass everything
else are counted). Counted axes are judged only when the read's counts are given:
the gate counts atomically in the store instead (see application/policygate).

Time windows: `timeWindowDays` names the day a window *opens* in its own time zone;
a window that wraps midnight (22:00-06:00) opened on Monday still admits Tuesday
05:59. Local time comes from zoneinfo, so DST change days are judged on the clock
people read in that zone. Rate days are UTC days.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from domain.policyrules import DAYS, PolicyRules, minutes_of

MINUTE_MS = 60_000
DAY_MS = 86_400_000

TTL, TIME_WINDOW, IP_ALLOWLIST, CO_SIGN, RATE_CAP = (
    "ttl",
    "time_window",
    "ip_allowlist",
    "co_sign",
    "rate_cap",
)


@dataclass(frozen=True)
class ReadContext:
    """One read as the policy sees it. Counts are of reads already allowed before it."""

    at_ms: int
    source_ip: str
    machine_id: str
    reads_this_minute: int | None = None
    reads_today: int | None = None
    reads_total: int | None = None
    cosigned: bool = False


@dataclass(frozen=True)
class Allowed:
    rotate: bool = False  # this read is the rotate-after-N'th


@dataclass(frozen=True)
class Blocked:
    condition: str
    status: int
    detail: str
    retry_after: int | None = None


Judgement = Allowed | Blocked


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def in_window(rules: PolicyRules, at_ms: int) -> bool:
    local = datetime.fromtimestamp(at_ms / 1000, tz=_zone(rules.time_window_timezone or "UTC"))
    now = local.hour * 60 + local.minute
    start = minutes_of(rules.time_window_start, "start")
    end = minutes_of(rules.time_window_end, "end")
    today = DAYS[local.weekday()]
    days = rules.time_window_days
    if start < end:
        return today in days and start <= now < end
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return (now >= start and today in days) or (now < end and yesterday in days)


def ip_in(rules: PolicyRules, source_ip: str) -> bool:
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in rules.networks)


def ttl_retired(rules: PolicyRules, at_ms: int, reads_total: int | None) -> bool:
    if not rules.ttl_enabled:
        return False
    if rules.ttl_expires_at is not None and at_ms >= rules.ttl_expires_at:
        return True
    return rules.ttl_max_reads is not None and (reads_total or 0) >= rules.ttl_max_reads


def rate_blocked(rules: PolicyRules, at_ms: int, minute: int, day: int) -> Blocked | None:
    per_minute, per_day = rules.max_reads_per_minute, rules.max_reads_per_day
    if per_minute is not None and minute >= per_minute:
        wait = (MINUTE_MS - at_ms % MINUTE_MS + 999) // 1000
        return Blocked(RATE_CAP, 429, f"rate cap: {per_minute} reads per minute", wait)
    if per_day is not None and day >= per_day:
        wait = (DAY_MS - at_ms % DAY_MS + 999) // 1000
        return Blocked(RATE_CAP, 429, f"rate cap: {per_day} reads per day", wait)
    return None


def judge_uncounted(rules: PolicyRules, read: ReadContext) -> Blocked | None:
    """The axes that need no counting: TTL time, time window, IP, co-sign."""
    if ttl_retired(rules, read.at_ms, read.reads_total):
        return Blocked(TTL, 410, "TTL: the secret is retired")
    if rules.time_window_enabled and not in_window(rules, read.at_ms):
        window = f"{rules.time_window_start}-{rules.time_window_end}"
        return Blocked(TIME_WINDOW, 403, f"outside time window {window}")
    if rules.ip_allowlist_enabled and not ip_in(rules, read.source_ip):
        return Blocked(IP_ALLOWLIST, 403, f"IP {read.source_ip} not on the policy allowlist")
    if rules.co_sign_enabled and read.machine_id != rules.co_sign_machine_id and not read.cosigned:
        return Blocked(CO_SIGN, 403, "co-sign required")
    return None


def judge(rules: PolicyRules, read: ReadContext) -> Judgement:
    """Allowed, or Blocked naming the first failing condition and its status."""
    blocked = judge_uncounted(rules, read)
    if blocked is not None:
        return blocked
    if rules.rate_cap_enabled and read.reads_this_minute is not None:
        blocked = rate_blocked(rules, read.at_ms, read.reads_this_minute, read.reads_today or 0)
        if blocked is not None:
            return blocked
    total = (read.reads_total or 0) + 1
    rotate = rules.rotate_after_reads_enabled and total % (rules.rotate_after_reads or 1) == 0
    return Allowed(rotate=rotate)
