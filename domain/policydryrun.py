"""Re-judge recorded reads under a policy: what would it have blocked, by whom, when?

The same axes, order and counting as `policyjudge.judge` (a unit test holds the two
equal on a random history), with the per-read work memoised: the time window is
decided once per minute, the IP allowlist once per address, so a million records
take about a second. Counts start at zero at the window's start (reads before it
are not known to the counter) and, as in the gate, only allowed reads are counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.policyjudge import (
    CO_SIGN,
    DAY_MS,
    IP_ALLOWLIST,
    MINUTE_MS,
    RATE_CAP,
    TIME_WINDOW,
    TTL,
    in_window,
    ip_in,
)
from domain.policyrules import PolicyRules

# (timestamp ms, source IP, machine id, secret id); each secret's reads oldest first
# (counts are per secret, so secrets need not be interleaved in time).
Read = tuple[int, str, str | None, str]


@dataclass
class Tally:
    allowed: int = 0
    blocked: int = 0
    by_condition: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "blocked": self.blocked,
            "byCondition": dict(sorted(self.by_condition.items())),
        }


@dataclass
class DryRunResult:
    total: Tally = field(default_factory=Tally)
    by_machine: defaultdict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_day: defaultdict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))

    def as_dict(self) -> dict[str, Any]:
        return {
            "reads": self.total.allowed + self.total.blocked,
            **self.total.as_dict(),
            "byMachine": {k: v.as_dict() for k, v in sorted(self.by_machine.items())},
            "byDay": {k: v.as_dict() for k, v in sorted(self.by_day.items())},
        }


def _day_name(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


def dry_run(rules: PolicyRules, reads: Iterable[Read]) -> DryRunResult:
    """Every read judged in order; `None` condition means allowed."""
    result = DryRunResult()
    windows: dict[int, bool] = {}
    addresses: dict[str, bool] = {}
    per_minute: Counter[tuple[str, int]] = Counter()
    per_day: Counter[tuple[str, int]] = Counter()
    totals: Counter[str] = Counter()
    day_names: dict[int, str] = {}
    expires = rules.ttl_expires_at if rules.ttl_enabled else None
    max_reads = rules.ttl_max_reads if rules.ttl_enabled else None
    cosigner = rules.co_sign_machine_id if rules.co_sign_enabled else None
    cap_minute = rules.max_reads_per_minute if rules.rate_cap_enabled else None
    cap_day = rules.max_reads_per_day if rules.rate_cap_enabled else None
    total, machines, days = result.total, result.by_machine, result.by_day
    for at, ip, machine, secret in reads:
        minute, day = at // MINUTE_MS, at // DAY_MS
        condition: str | None = None
        if (expires is not None and at >= expires) or (
            max_reads is not None and totals[secret] >= max_reads
        ):
            condition = TTL
        elif rules.time_window_enabled:
            inside = windows.get(minute)
            if inside is None:
                inside = windows[minute] = in_window(rules, at)
            if not inside:
                condition = TIME_WINDOW
        if condition is None and rules.ip_allowlist_enabled:
            listed = addresses.get(ip)
            if listed is None:
                listed = addresses[ip] = ip_in(rules, ip)
            if not listed:
                condition = IP_ALLOWLIST
        if condition is None and cosigner is not None and machine != cosigner:
            condition = CO_SIGN
        if condition is None and (
            (cap_minute is not None and per_minute[secret, minute] >= cap_minute)
            or (cap_day is not None and per_day[secret, day] >= cap_day)
        ):
            condition = RATE_CAP
        name = day_names.get(day)
        if name is None:
            name = day_names[day] = _day_name(day)
        by_machine, by_day = machines[machine or "-"], days[name]
        if condition is None:
            per_minute[secret, minute] += 1
            per_day[secret, day] += 1
            totals[secret] += 1
            total.allowed += 1
            by_machine.allowed += 1
            by_day.allowed += 1
        else:
            total.blocked += 1
            by_machine.blocked += 1
            by_day.blocked += 1
            total.by_condition[condition] += 1
            by_machine.by_condition[condition] += 1
            by_day.by_condition[condition] += 1
    return result
