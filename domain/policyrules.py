"""The six axes of an access policy, each behind its own toggle, strictly validated.

Stored in events as a plain dict of wire names (product-facts §9), so the ledger
needs no transcoding for them. A toggled-off axis is kept as given but never judged;
an enabled axis must be fully specified, or the whole policy is refused (400).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CIDRS = 100
MAX_COSIGN_WINDOW = 24 * 3600
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def minutes_of(clock: str | None, what: str) -> int:
    """`HH:MM` (00:00–23:59) as minutes after midnight."""
    found = _CLOCK.match(clock or "")
    if found is None:
        raise InvalidInput(f"{what} must be a time HH:MM between 00:00 and 23:59, not {clock!r}")
    return int(found[1]) * 60 + int(found[2])


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_of(name: str | None) -> ZoneInfo:
    """An IANA zone by name; only names the system's zone database lists (never a path)."""
    if not name or name not in _zone_names():
        shown = (name or "")[:60]
        raise InvalidInput(f"Unknown time zone {shown!r} (use an IANA name like Europe/Oslo)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"Unknown time zone {name!r}") from None


def network_of(cidr: str) -> Network:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise InvalidInput(f"Invalid IP or CIDR {cidr[:60]!r}") from None


MAX_COUNT = 1_000_000_000


def _positive(value: int | None, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not 0 < value <= MAX_COUNT):
        raise InvalidInput(f"{what} must be a whole number above 0 (at most {MAX_COUNT:,})")


@dataclass(frozen=True)
class PolicyRules:
    """The axes as stored. Field names map to the product's camelCase wire names."""

    time_window_enabled: bool = False
    time_window_start: str | None = None
    time_window_end: str | None = None
    time_window_timezone: str | None = None
    time_window_days: tuple[str, ...] = ()
    ip_allowlist_enabled: bool = False
    ip_allowlist_cidrs: tuple[str, ...] = ()
    rate_cap_enabled: bool = False
    max_reads_per_minute: int | None = None
    max_reads_per_day: int | None = None
    co_sign_enabled: bool = False
    co_sign_machine_id: str | None = None
    co_sign_window_seconds: int | None = None
    ttl_enabled: bool = False
    ttl_expires_at: int | None = None  # epoch ms
    ttl_max_reads: int | None = None
    rotate_after_reads_enabled: bool = False
    rotate_after_reads: int | None = None
    networks: tuple[Network, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.ip_allowlist_enabled and not self.networks:
            nets = tuple(network_of(c) for c in self.ip_allowlist_cidrs)
            object.__setattr__(self, "networks", nets)

    @property
    def counted(self) -> bool:
        """Whether a read must be counted in the store (rate caps, TTL read limit)."""
        return self.rate_cap_enabled or (self.ttl_enabled and self.ttl_max_reads is not None)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "networks"}
        out["time_window_days"] = list(self.time_window_days)
        out["ip_allowlist_cidrs"] = list(self.ip_allowlist_cidrs)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyRules:
        known = {f.name for f in fields(cls)} - {"networks"}
        values = {k: v for k, v in data.items() if k in known}
        values["time_window_days"] = tuple(values.get("time_window_days") or ())
        values["ip_allowlist_cidrs"] = tuple(values.get("ip_allowlist_cidrs") or ())
        return cls(**values)

    def validate(self, now_ms: int, project_machines: set[str] | frozenset[str]) -> PolicyRules:
        """This policy if every enabled axis is complete and sane; else InvalidInput."""
        if self.time_window_enabled:
            minutes_of(self.time_window_start, "timeWindowStart")
            minutes_of(self.time_window_end, "timeWindowEnd")
            if self.time_window_start == self.time_window_end:
                raise InvalidInput("timeWindowStart and timeWindowEnd must differ")
            zone_of(self.time_window_timezone)
            if not self.time_window_days:
                raise InvalidInput("timeWindowDays must name at least one day (mon..sun)")
            wrong = [d for d in self.time_window_days if d not in DAYS]
            if wrong:
                raise InvalidInput(f"Unknown day {wrong[0]!r} in timeWindowDays (mon..sun)")
        if self.ip_allowlist_enabled:
            if not self.ip_allowlist_cidrs:
                raise InvalidInput("ipAllowlistCidrs must hold at least one IP or CIDR")
            if len(self.ip_allowlist_cidrs) > MAX_CIDRS:
                raise InvalidInput(f"ipAllowlistCidrs holds at most {MAX_CIDRS} entries")
            for cidr in self.ip_allowlist_cidrs:
                network_of(cidr)
        if self.rate_cap_enabled:
            if self.max_reads_per_minute is None and self.max_reads_per_day is None:
                raise InvalidInput("A rate cap needs maxReadsPerMinute or maxReadsPerDay")
            _positive(self.max_reads_per_minute, "maxReadsPerMinute")
            _positive(self.max_reads_per_day, "maxReadsPerDay")
        if self.co_sign_enabled:
            if not self.co_sign_machine_id or self.co_sign_machine_id not in project_machines:
                raise InvalidInput("coSignMachineId must name a machine in this policy's project")
            if self.co_sign_window_seconds is None:
                raise InvalidInput("coSignWindowSeconds is required with co-sign")
            _positive(self.co_sign_window_seconds, "coSignWindowSeconds")
            if self.co_sign_window_seconds > MAX_COSIGN_WINDOW:
                raise InvalidInput(f"coSignWindowSeconds is at most {MAX_COSIGN_WINDOW}")
        if self.ttl_enabled:
            if self.ttl_expires_at is None and self.ttl_max_reads is None:
                raise InvalidInput("TTL needs ttlExpiresAt or ttlMaxReads")
            _positive(self.ttl_max_reads, "ttlMaxReads")
            if self.ttl_expires_at is not None and self.ttl_expires_at <= now_ms:
                raise InvalidInput("ttlExpiresAt must be in the future")
            if self.ttl_expires_at is not None and self.ttl_expires_at > 2**53:
                raise InvalidInput("ttlExpiresAt is epoch milliseconds")
        if self.rotate_after_reads_enabled:
            if self.rotate_after_reads is None:
                raise InvalidInput("rotateAfterReads is required when it is enabled")
            _positive(self.rotate_after_reads, "rotateAfterReads")
        return self

    def enabled_axes(self) -> list[str]:
        axes = (
            ("time_window", self.time_window_enabled),
            ("ip_allowlist", self.ip_allowlist_enabled),
            ("rate_cap", self.rate_cap_enabled),
            ("co_sign", self.co_sign_enabled),
            ("ttl", self.ttl_enabled),
            ("rotate_after_reads", self.rotate_after_reads_enabled),
        )
        return [name for name, on in axes if on]
