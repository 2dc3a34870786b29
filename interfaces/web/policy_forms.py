"""The dashboard's policy form as the operator API's wire body, and a policy in words.

An axis is enabled only when one of its fields is filled, so an empty form section
is "off" rather than an error; a half-filled axis reaches the service's strict
validation and comes back as its message (400, nothing saved).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidInput
from domain.policyrules import DAYS, PolicyRules

DAY_FIELDS = tuple(f"day_{d}" for d in DAYS)


def _text(form: dict[str, Any], name: str) -> str:
    return str(form.get(name, "")).strip()


def _count(form: dict[str, Any], name: str, wire: str) -> int | None:
    raw = _text(form, name)
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput(f"{wire} must be a whole number above 0")
    return int(raw)


def _instant(raw: str) -> int:
    """`YYYY-MM-DDTHH:MM` (a datetime-local field) read as UTC, in epoch ms."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"ttlExpiresAt must be a date and time, not {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def wire_body(form: dict[str, Any]) -> dict[str, Any]:
    """The axes the form fills, as `Policies.create` takes them."""
    body: dict[str, Any] = {}
    start, end, zone = (_text(form, n) for n in ("time_start", "time_end", "time_zone"))
    days = [d for d in DAYS if form.get(f"day_{d}")]
    if start or end or zone:
        body |= {
            "timeWindowEnabled": True,
            "timeWindowStart": start,
            "timeWindowEnd": end,
            "timeWindowTimezone": zone,
            "timeWindowDays": days,
        }
    cidrs = [line.strip() for line in _text(form, "ip_cidrs").splitlines() if line.strip()]
    if cidrs:
        body |= {"ipAllowlistEnabled": True, "ipAllowlistCidrs": cidrs}
    per_minute = _count(form, "max_per_minute", "maxReadsPerMinute")
    per_day = _count(form, "max_per_day", "maxReadsPerDay")
    if per_minute is not None or per_day is not None:
        body |= {
            "rateCapEnabled": True,
            "maxReadsPerMinute": per_minute,
            "maxReadsPerDay": per_day,
        }
    expires_raw = _text(form, "ttl_expires_at")
    ttl_reads = _count(form, "ttl_max_reads", "ttlMaxReads")
    if expires_raw or ttl_reads is not None:
        body |= {
            "ttlEnabled": True,
            "ttlExpiresAt": _instant(expires_raw) if expires_raw else None,
            "ttlMaxReads": ttl_reads,
        }
    rotate = _count(form, "rotate_after_reads", "rotateAfterReads")
    if rotate is not None:
        body |= {"rotateAfterReadsEnabled": True, "rotateAfterReads": rotate}
    return body


def _ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def in_words(rules: PolicyRules) -> list[str]:
    """Each enabled axis as one short phrase; an empty list means no conditions."""
    words = []
    if rules.time_window_enabled:
        days = ", ".join(rules.time_window_days)
        words.append(
            f"reads {rules.time_window_start}–{rules.time_window_end} "
            f"{rules.time_window_timezone} on {days}"
        )
    if rules.ip_allowlist_enabled:
        words.append("from " + ", ".join(rules.ip_allowlist_cidrs))
    if rules.rate_cap_enabled:
        caps = []
        if rules.max_reads_per_minute is not None:
            caps.append(f"{rules.max_reads_per_minute} per minute")
        if rules.max_reads_per_day is not None:
            caps.append(f"{rules.max_reads_per_day} per day")
        words.append("at most " + " and ".join(caps))
    if rules.co_sign_enabled:
        words.append(
            f"co-signed by {rules.co_sign_machine_id} within {rules.co_sign_window_seconds} s"
        )
    if rules.ttl_enabled:
        ends = []
        if rules.ttl_expires_at is not None:
            ends.append(f"at {_ms(rules.ttl_expires_at)}")
        if rules.ttl_max_reads is not None:
            ends.append(f"after {rules.ttl_max_reads} reads")
        words.append("retired " + " or ".join(ends))
    if rules.rotate_after_reads_enabled:
        words.append(f"rotated every {rules.rotate_after_reads} reads")
    return words
