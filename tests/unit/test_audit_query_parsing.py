"""Parsing an audit query: what is accepted, what it means, and what is refused (why)."""

from __future__ import annotations

import ipaddress

import pytest

from domain.auditquery import AuditQuery, parse_query, parse_source, parse_time
from domain.errors import InvalidInput
from infrastructure.readmodels.auditsearch import ipv4_text_prefix, sqlite_ip_in

NOV_1 = 1_793_491_200_000  # 2026-11-01T00:00Z


def parse(**params: str | list[str]) -> AuditQuery:
    raw = {k.replace("_", "[]") if k.endswith("_") else k: v for k, v in params.items()}
    return parse_query({k: v if isinstance(v, list) else [v] for k, v in raw.items()})[0]


def test_defaults() -> None:
    query = parse()
    assert query == AuditQuery()
    assert (query.sort_by, query.descending, query.page, query.page_size) == (
        "timestamp",
        True,
        1,
        50,
    )
    assert query.offset == 0
    assert parse(page="3", pageSize="20").offset == 40


def test_lists_repeat_comma_and_bracket_names() -> None:
    query = parse(actions=["secret_read, auth_failure", "secret_read"], actions_="secret_update")
    assert query.actions == ("secret_read", "auth_failure", "secret_update")
    assert parse(severities="high,critical").severities == ("high", "critical")
    assert parse(actorKind="machine,ai_agent").actor_kinds == ("machine", "ai_agent")


@pytest.mark.parametrize(
    "text, ms",
    [
        ("2026-11-01T00:00Z", NOV_1),
        ("2026-11-01T00:00:00.000Z", NOV_1),
        ("2026-11-01T02:00+02:00", NOV_1),
        ("2026-11-01T00:00", NOV_1),  # no zone: UTC
        ("2026-11-01", NOV_1),
        (str(NOV_1), NOV_1),
        ("0", 0),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_time("from", text) == ms


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-11-01T25:00Z", "-5", "1e3", ""])
def test_bad_times(text: str) -> None:
    with pytest.raises(InvalidInput, match="from"):
        parse_time("from", text)


def test_from_after_to_is_refused_equal_is_an_empty_window() -> None:
    with pytest.raises(InvalidInput, match="from is after to"):
        parse(**{"from": "2026-11-02T00:00Z", "to": "2026-11-01T00:00Z"})
    same = parse(**{"from": str(NOV_1), "to": "2026-11-01T00:00Z"})
    assert same.from_ms == same.to_ms == NOV_1


def test_sources() -> None:
    assert parse_source("10.1.2.3") == (("10.1.2.3",), None)
    assert parse_source("2001:DB8:0::5") == (("2001:DB8:0::5", "2001:db8::5"), None)
    assert parse_source("10.1.2.3/8") == ((), ipaddress.ip_network("10.0.0.0/8"))
    assert parse_source("2001:db8::/32")[1] == ipaddress.ip_network("2001:db8::/32")
    assert parse_source("system") == (("system",), None)
    for bad in ("10.0.0.0/33", "10.0.0.300", "2001:db8::/129", "localhost", "10.0.0.0/8/8"):
        with pytest.raises(InvalidInput, match="sourceIp"):
            parse_source(bad)


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"actions": "secret_reed"}, "unknown action"),
        ({"severities": "urgent"}, "unknown severity"),
        ({"actorKind": "robot"}, "unknown actor kind"),
        ({"pageSize": "0"}, "pageSize must be between 1 and 200"),
        ({"pageSize": "201"}, "pageSize must be between 1 and 200"),
        ({"page": "0"}, "page must be between"),
        ({"page": "1.5"}, "not a whole number"),
        ({"sortBy": "secretId"}, "sortBy must be one of"),
        ({"sortDir": "sideways"}, "sortDir must be asc or desc"),
        ({"format": "xml"}, "format must be json or csv"),
        ({"search": "x" * 201}, "search must be 1 to 200"),
        ({"secretId": ""}, "secretId must be 1 to 200"),
        ({"action": "secret_read"}, "unknown query parameter 'action'"),
        ({"page": ["1", "2"]}, "page may be given once"),
    ],
)
def test_refusals_name_the_reason(params: dict[str, str | list[str]], reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse(**params)


def test_sort_and_format() -> None:
    assert parse(sortBy="severity", sortDir="ASC").descending is False
    assert parse_query({"format": ["CSV"]})[1] == "csv"


@pytest.mark.parametrize(
    "source, cidr, inside",
    [
        ("10.1.2.3", "10.0.0.0/8", 1),
        ("11.1.2.3", "10.0.0.0/8", 0),
        ("2001:db8::5", "2001:db8::/32", 1),
        ("2001:db9::5", "2001:db8::/32", 0),
        ("10.1.2.3", "::/0", 0),  # families never match each other
        ("::1", "0.0.0.0/0", 0),
        ("system", "0.0.0.0/0", 0),
        (None, "0.0.0.0/0", 0),
    ],
)
def test_sqlite_cidr_function(source: str | None, cidr: str, inside: int) -> None:
    assert sqlite_ip_in(source, cidr) == inside


@pytest.mark.parametrize(
    "cidr, prefix",
    [
        ("10.0.0.0/8", "10."),
        ("10.128.0.0/9", "10."),
        ("192.168.1.0/24", "192.168.1."),
        ("10.1.2.3/32", "10.1.2."),  # never the whole address: "10.1.2.3." sorts after it
        ("10.0.0.0/7", None),
        ("0.0.0.0/0", None),
        ("2001:db8::/32", None),
    ],
)
def test_sqlite_text_prefix_is_a_superset(cidr: str, prefix: str | None) -> None:
    network = ipaddress.ip_network(cidr)
    assert ipv4_text_prefix(network) == prefix
    if prefix is not None:
        for address in (network.network_address, network.broadcast_address):
            assert prefix <= str(address) < prefix[:-1] + "/"


def test_csv_cells_never_start_a_formula() -> None:
    from interfaces.http.audit import cell

    assert cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert [cell(v) for v in ("+1", "-1", "@a", "\tx")] == ["'+1", "'-1", "'@a", "'\tx"]
    assert (cell(None), cell(12), cell("version 1")) == ("", "12", "version 1")
