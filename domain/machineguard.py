"""Per-machine guardrails and lifetimes: checked on every signed request.

A temporary machine may carry source CIDRs and a time-of-day window; an ephemeral
(enrollment) or temporary machine carries an expiry instant. All are decided from the
cached Machine aggregate alone, so the read path pays no extra round trip.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.allowlist import parse_cidr
from domain.errors import InvalidInput

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
MAX_LIFETIME_MS = 365 * DAY_MS  # "12 months": the rolling cap for lifetimes and extensions
MAX_CIDRS = 32
WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")
DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdw])")
UNITS_MS = {"s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


def parse_duration_ms(text: str, what: str) -> int:
    """`90s`, `15m`, `1h`, `30d`, `2w` → milliseconds (InvalidInput otherwise)."""
    found = DURATION.fullmatch(text.strip())
    if not found:
        raise InvalidInput(f"{what} must look like 90s, 15m, 1h, 30d or 2w")
    return int(found[1]) * UNITS_MS[found[2]]


def check_lifetime(ms: int, low_ms: int, what: str) -> int:
    if not low_ms <= ms <= MAX_LIFETIME_MS:
        raise InvalidInput(f"{what} must be between {low_ms // 1000} s and 12 months")
    return ms


def parse_cidrs(cidrs: list[str]) -> list[str]:
    if len(cidrs) > MAX_CIDRS:
        raise InvalidInput(f"At most {MAX_CIDRS} source CIDRs")
    return [parse_cidr(c) for c in cidrs]


def parse_window(hours: str | None, tz: str) -> tuple[str | None, str]:
    """`08:00-18:00` in an IANA zone; a window may wrap midnight (22:00-06:00)."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {tz[:64]!r}") from None
    if hours is None or hours == "":
        return None, tz
    found = WINDOW.fullmatch(hours.strip())
    if not found or found[1] + found[2] == found[3] + found[4]:
        raise InvalidInput("hours must look like 08:00-18:00 (24 h clock, start ≠ end)")
    return hours.strip(), tz


def ip_in(ip: str, cidrs: tuple[str, ...] | list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(c) for c in cidrs)


def in_window(hours: str, tz: str, now_ms: int) -> bool:
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute
    start_h, start_m, end_h, end_m = (int(x) for x in re.findall(r"[0-9]{2}", hours))
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    return start <= minute < end if start < end else minute >= start or minute < end
