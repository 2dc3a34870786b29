"""An audit query's filters, sort and page, parsed and checked before any store sees them.

The HTTP layer hands over the raw query string (name -> values); everything a caller
can get wrong is refused here with the reason (InvalidInput, HTTP 400), so the store
only ever runs well-formed queries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.auditcatalogue import BY_ACTION, ActorKind, Severity
from domain.errors import InvalidInput

MAX_MS = 2**63 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 10_000_000
CSV_MAX_ROWS = 10_000  # the CSV export is cut here, and says so
SORT_KEYS = ("timestamp", "action", "severity", "sourceIp")
SOURCE_SENTINELS = ("system", "unknown", "stripe")  # source IPs that are not addresses
MAX_TEXT = 200

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LISTS = {"actions": "actions", "severities": "severities", "actorKind": "actor_kinds"}
_ALIASES = {"actions[]": "actions", "severities[]": "severities", "actorKind[]": "actorKind"}
_SINGLE = (
    "actorId",
    "machineId",
    "secretId",
    "projectId",
    "sourceIp",
    "search",
    "from",
    "to",
    "sortBy",
    "sortDir",
    "page",
    "pageSize",
    "format",
)


@dataclass(frozen=True)
class AuditQuery:
    actions: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    actor_kinds: tuple[str, ...] = ()
    actor_id: str | None = None  # a user, machine or AI agent id
    machine_id: str | None = None
    secret_id: str | None = None
    project_id: str | None = None
    source_ips: tuple[str, ...] = ()  # one address, as given and in canonical form
    network: IpNetwork | None = None  # a CIDR the source IP must fall in
    search: str | None = None  # substring of detail, case-insensitive
    from_ms: int | None = None  # inclusive
    to_ms: int | None = None  # exclusive
    sort_by: str = "timestamp"
    descending: bool = True
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def parse_time(name: str, value: str) -> int:
    """Epoch milliseconds, or an ISO-8601 time (a time without a zone is UTC)."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        ms = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"{name}: {value[:40]!r} is neither epoch milliseconds nor an ISO-8601 time "
                "(e.g. 2026-11-01T00:00Z)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ms = int(moment.timestamp() * 1000)
    if not 0 <= ms <= MAX_MS:
        raise InvalidInput(f"{name}: {value[:40]!r} is out of range")
    return ms


def parse_source(value: str) -> tuple[tuple[str, ...], IpNetwork | None]:
    """An address (matched exactly), a CIDR (matched by containment), or a sentinel."""
    text = value.strip()
    if text in SOURCE_SENTINELS:
        return (text,), None
    try:
        if "/" in text:
            return (), ipaddress.ip_network(text, strict=False)
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput(
            f"sourceIp: {value[:60]!r} is not an IP address or CIDR "
            "(e.g. 10.0.0.0/8, 2001:db8::/32)"
        ) from None
    return tuple(dict.fromkeys((text, str(address)))), None


def _items(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _known(name: str, values: list[str], allowed: Sequence[str], hint: str) -> tuple[str, ...]:
    for value in values:
        if value not in allowed:
            raise InvalidInput(f"{name}: unknown {hint} {value[:64]!r}")
    return tuple(dict.fromkeys(values))


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise InvalidInput(f"{name}: {value[:20]!r} is not a whole number") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return number


def _text(name: str, value: str) -> str:
    if not value or len(value) > MAX_TEXT:
        raise InvalidInput(f"{name} must be 1 to {MAX_TEXT} characters")
    return value


def parse_query(params: Mapping[str, Sequence[str]]) -> tuple[AuditQuery, str]:
    """The query and the requested format ("json" or "csv") from raw parameters."""
    lists: dict[str, list[str]] = {name: [] for name in _LISTS}
    single: dict[str, str] = {}
    for raw_name, values in params.items():
        name = _ALIASES.get(raw_name, raw_name)
        if name in lists:
            lists[name] += _items(values)
        elif name in _SINGLE:
            if len(values) != 1 or name in single:
                raise InvalidInput(f"{name} may be given once")
            single[name] = values[0]
        else:
            raise InvalidInput(f"unknown query parameter {raw_name[:40]!r}")
    actions = _known(
        "actions", lists["actions"], list(BY_ACTION), "action (see /v1/admin/audit/actions)"
    )
    severities = _known("severities", lists["severities"], [s.value for s in Severity], "severity")
    kinds = _known("actorKind", lists["actorKind"], [k.value for k in ActorKind], "actor kind")
    source_ips, network = parse_source(single["sourceIp"]) if "sourceIp" in single else ((), None)
    from_ms = parse_time("from", single["from"]) if "from" in single else None
    to_ms = parse_time("to", single["to"]) if "to" in single else None
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise InvalidInput("from is after to")
    sort_by = single.get("sortBy", "timestamp")
    if sort_by not in SORT_KEYS:
        raise InvalidInput(f"sortBy must be one of {', '.join(SORT_KEYS)}")
    sort_dir = single.get("sortDir", "desc").lower()
    if sort_dir not in ("asc", "desc"):
        raise InvalidInput("sortDir must be asc or desc")
    fmt = single.get("format", "json").lower()
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv")
    ids = {
        key: _text(key, single[key]) if key in single else None
        for key in ("actorId", "machineId", "secretId", "projectId", "search")
    }
    query = AuditQuery(
        actions=actions,
        severities=severities,
        actor_kinds=kinds,
        actor_id=ids["actorId"],
        machine_id=ids["machineId"],
        secret_id=ids["secretId"],
        project_id=ids["projectId"],
        source_ips=source_ips,
        network=network,
        search=ids["search"],
        from_ms=from_ms,
        to_ms=to_ms,
        sort_by=sort_by,
        descending=sort_dir == "desc",
        page=_int("page", single["page"], 1, MAX_PAGE) if "page" in single else 1,
        page_size=_int("pageSize", single["pageSize"], 1, MAX_PAGE_SIZE)
        if "pageSize" in single
        else DEFAULT_PAGE_SIZE,
    )
    return query, fmt
