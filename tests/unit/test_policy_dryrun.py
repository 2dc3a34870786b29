"""The dry-run re-judges history exactly as the gate's judge would, read by read."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from domain.policydryrun import dry_run
from domain.policyjudge import Blocked, ReadContext, judge
from domain.policyrules import PolicyRules


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    return int(datetime(2026, 11, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


RULES = PolicyRules(
    time_window_enabled=True,
    time_window_start="08:00",
    time_window_end="18:00",
    time_window_timezone="UTC",
    time_window_days=("mon", "tue", "wed", "thu", "fri"),
    ip_allowlist_enabled=True,
    ip_allowlist_cidrs=("10.0.0.0/8", "2001:db8::/32"),
    rate_cap_enabled=True,
    max_reads_per_minute=2,
    max_reads_per_day=4,
)


def test_a_scripted_week_has_a_known_answer() -> None:
    # 2026-11-23 is a Monday, 2026-11-28 a Saturday.
    history = [
        (at(23, 9), "10.0.0.1", "ci", "sk_a"),  # allowed
        (at(23, 9, 0, 10), "10.0.0.2", "ci", "sk_a"),  # allowed
        (at(23, 9, 0, 20), "10.0.0.3", "ci", "sk_a"),  # 3rd in the minute: rate cap
        (at(23, 9, 1), "2001:db8::1", "web", "sk_a"),  # allowed (3rd of the day)
        (at(23, 9, 2), "192.168.1.1", "web", "sk_a"),  # IP
        (at(23, 19), "10.0.0.1", "web", "sk_a"),  # time window
        (at(23, 10), "10.0.0.1", "ci", "sk_a"),  # allowed (4th of the day)
        (at(23, 11), "10.0.0.1", "ci", "sk_a"),  # 5th: daily cap
        (at(23, 11), "10.0.0.1", "ci", "sk_b"),  # another secret counts apart
        (at(28, 10), "10.0.0.1", "ci", "sk_a"),  # Saturday: time window
    ]
    result = dry_run(RULES, history).as_dict()
    assert (result["reads"], result["allowed"], result["blocked"]) == (10, 5, 5)
    assert result["byCondition"] == {"ip_allowlist": 1, "rate_cap": 2, "time_window": 2}
    assert result["byMachine"]["ci"] == {
        "allowed": 4, "blocked": 3, "byCondition": {"rate_cap": 2, "time_window": 1},
    }  # fmt: skip
    assert result["byMachine"]["web"]["byCondition"] == {"ip_allowlist": 1, "time_window": 1}
    assert set(result["byDay"]) == {"2026-11-23", "2026-11-28"}
    assert result["byDay"]["2026-11-28"] == {
        "allowed": 0, "blocked": 1, "byCondition": {"time_window": 1},
    }  # fmt: skip


def test_the_dry_run_agrees_with_judge_on_a_random_history() -> None:
    rng = random.Random(13)
    rules = PolicyRules.from_dict(
        RULES.as_dict()
        | {"time_window_start": "22:00", "time_window_end": "06:00", "ttl_enabled": True}
        | {"ttl_max_reads": 15, "co_sign_enabled": True, "co_sign_machine_id": "m0"}
        | {"time_window_timezone": "Europe/Oslo", "max_reads_per_day": 5}
    )
    start = at(20, 0)
    history = sorted(
        (
            start + rng.randrange(7 * 86_400_000),
            rng.choice(["10.1.1.1", "11.0.0.1", "2001:db8::5", "::1"]),
            rng.choice(["m0", "m1", "m2"]),
            rng.choice(["sk_a", "sk_b"]),
        )
        for _ in range(3000)
    )
    minute: Counter[tuple[str, int]] = Counter()
    day: Counter[tuple[str, int]] = Counter()
    total: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for when, ip, machine, secret in history:
        found = judge(
            rules,
            ReadContext(
                when, ip, machine,
                reads_this_minute=minute[secret, when // 60_000],
                reads_today=day[secret, when // 86_400_000],
                reads_total=total[secret],
            ),
        )  # fmt: skip
        if isinstance(found, Blocked):
            expected[found.condition] += 1
        else:
            minute[secret, when // 60_000] += 1
            day[secret, when // 86_400_000] += 1
            total[secret] += 1
            expected["allowed"] += 1
    result = dry_run(rules, history).as_dict()
    assert result["allowed"] == expected.pop("allowed")
    assert result["byCondition"] == dict(sorted(expected.items()))
    assert len(result["byCondition"]) == 5  # every condition was exercised
