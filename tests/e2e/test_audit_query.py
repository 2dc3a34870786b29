"""The audit query over both logs, against a live server on each store.

One server per store for the module: a scripted history (vault changes in the ledger,
machine reads and refusals in the access log) plus a chained lane of 10,050 access
records dated 2020 inserted directly. Answers are checked against the server's own
full listing re-filtered and re-sorted in plain Python, so a wrong filter, a wrong
merge of the two logs or a wrong page cannot agree with it.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from application.accessverify import verify_access_log
from domain.accesschain import AccessEntry
from domain.auditcatalogue import CATALOGUE
from infrastructure.accessstore.store import SqlAccessStore, sqlite_engine
from infrastructure.database import make_engine
from interfaces.cli import main
from tests.e2e.audit_history import (
    BULK_END_MS,
    BULK_ROWS,
    BULK_START_MS,
    History,
    insert_bulk,
    matches_ip,
    script,
    sort_key,
)
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Operator

QUERY = "/v1/admin/audit/query"


@dataclass
class World:
    live: LiveServer
    op: Operator
    history: History
    since: int  # the scripted history starts here (ms)
    bulk: list[AccessEntry]

    def query(self, **params: Any) -> dict[str, Any]:
        return dict(self.op.get(QUERY, **params))

    def everything(self, **params: Any) -> list[dict[str, Any]]:
        """Every entry the query matches, page by page (200 a page)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            got = self.query(page=page, pageSize=200, **params)
            out += got["entries"]
            if len(got["entries"]) < 200:
                assert got["total"] == len(out)
                return out
            page += 1

    def cli(self, *args: str) -> Any:
        env = {
            "KEYLEDGER_HOME": str(self.live.home),
            "KEYLEDGER_SERVER": self.live.url,
            "COLUMNS": "200",
        }
        return CliRunner().invoke(main.app, ["audit", *args], env=env)


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        since = int(time.time() * 1000)
        op = Operator(live)
        stack.callback(op.close)
        history = script(live, op)
        bulk = insert_bulk(live)
        yield World(live, op, history, since, bulk)


def test_the_catalogue_lists_every_action(world: World) -> None:
    listed = world.op.get("/v1/admin/audit/actions")["actions"]
    assert [a["action"] for a in listed] == [e.action for e in CATALOGUE]
    by_name = {a["action"]: a for a in listed}
    assert by_name["secret_read"] == {
        "action": "secret_read",
        "severity": "info",
        "category": "Secrets",
        "actorKinds": ["machine", "ai_agent"],
    }
    assert by_name["secret_delete"]["severity"] == "high"
    for path in ("/v1/admin/audit/actions", QUERY, QUERY + ".csv"):
        anonymous = httpx.get(world.live.url + path, params={"pageSize": "1"})
        assert anonymous.status_code == 401 and "error" in anonymous.json(), path


def test_every_recorded_action_is_catalogued(world: World) -> None:
    catalogued = {e.action: e.severity.value for e in CATALOGUE}
    entries = world.everything(**{"from": world.since})
    assert {e["action"] for e in entries} >= {"secret_read", "secret_read_denied", "secret_update"}
    for e in entries:
        assert catalogued[e["action"]] == e["severity"], e


def test_both_logs_are_merged_with_correct_totals(world: World) -> None:
    entries = world.everything(**{"from": world.since})
    logs = {e["log"] for e in entries}
    assert logs == {"ledger", "access"}
    h = world.history
    reads = [e for e in entries if e["action"] == "secret_read"]
    assert [e["machineId"] for e in reads] == [h.reader.machine_id] * 3
    denied = [e for e in entries if e["action"] == "secret_read_denied"]
    assert [e["machineId"] for e in denied] == [h.outsider.machine_id] * 2
    # Newest first by default, and the window excludes the 2020 lane.
    assert [e["timestamp"] for e in entries] == sorted(
        (e["timestamp"] for e in entries), reverse=True
    )
    everything = world.query(pageSize=1)
    assert everything["total"] == len(entries) + BULK_ROWS + _before(world)


def _before(world: World) -> int:
    """Entries between the bulk lane and the script (none: the vault was new)."""
    return int(world.query(**{"from": BULK_END_MS, "to": world.since})["total"])


@pytest.mark.parametrize(
    "params, keep",
    [
        (
            {"actions": "secret_read,secret_update"},
            lambda e, h: e["action"] in ("secret_read", "secret_update"),
        ),
        ({"severities": ["medium", "high"]}, lambda e, h: e["severity"] in ("medium", "high")),
        ({"actorKind": "machine"}, lambda e, h: e["actorKind"] == "machine"),
        ({"machineId": "READER"}, lambda e, h: e["machineId"] == h.reader.machine_id),
        (
            {"actorId": "READER"},
            lambda e, h: h.reader.machine_id in (e["userId"], e["machineId"], e["aiAgentId"]),
        ),
        ({"secretId": "A"}, lambda e, h: e["secretId"] == h.secret_a),
        ({"projectId": "P"}, lambda e, h: e["projectId"] == h.project),
        ({"search": "VERSION 1"}, lambda e, h: "version 1" in e["detail"].lower()),
        ({"sourceIp": "127.0.0.0/8"}, lambda e, h: matches_ip(e["sourceIp"], "127.0.0.0/8")),
        ({"sourceIp": "::/0"}, lambda e, h: matches_ip(e["sourceIp"], "::/0")),
    ],
)
def test_filters(world: World, params: dict[str, Any], keep: Any) -> None:
    h = world.history
    names = {"READER": h.reader.machine_id, "A": h.secret_a, "P": h.project}
    params = {k: names.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    window = world.everything(**{"from": world.since})
    expected = [e for e in window if keep(e, h)]
    got = world.everything(**{"from": world.since}, **params)
    assert got == expected
    if "sourceIp" not in params:  # (the script's addresses depend on how localhost resolves)
        assert 0 < len(expected) < len(window), "a filter that selects all or nothing proves little"


@pytest.mark.parametrize("sort_by", ["timestamp", "action", "severity", "sourceIp"])
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_sort_orders_and_pages_across_both_logs(world: World, sort_by: str, sort_dir: str) -> None:
    window = {"from": world.since, "sortBy": sort_by, "sortDir": sort_dir}
    whole = world.everything(**window)
    assert whole == sorted(whole, key=lambda e: sort_key(e, sort_by), reverse=sort_dir == "desc")
    paged: list[dict[str, Any]] = []
    for page in range(1, len(whole) // 4 + 3):
        got = world.query(page=page, pageSize=4, **window)
        assert (got["total"], got["page"], got["pageSize"]) == (len(whole), page, 4)
        paged += got["entries"]
    assert paged == whole  # no entry lost or repeated at a page boundary, past the end empty


def test_pages_reach_into_the_older_log(world: World) -> None:
    """A page straddling the script (both logs) and the 2020 lane (access only)."""
    newest = world.everything(**{"from": world.since})
    n = len(newest)
    got = world.query(page=2, pageSize=n - 1)
    assert got["total"] == n + BULK_ROWS + _before(world)
    assert got["entries"][0] == newest[-1]
    assert got["entries"][1]["detail"] == f"bulk row {BULK_ROWS - 1}" or _before(world)
    last = world.query(page=(got["total"] + 9) // 10, pageSize=10, sortDir="desc")
    assert last["entries"][-1]["detail"] == "bulk row 0"


@pytest.mark.parametrize(
    "source",
    [
        "10.0.0.0/8",
        "10.1.2.3",
        "10.1.2.3/32",
        "10.128.0.0/9",
        "10.1.2.0/24",
        "192.168.0.0/16",
        "2001:db8::/32",
        "2001:db8::5",
        "2001:db8:0:0:0:0:0:5",
        "0.0.0.0/0",
        "::/0",
        "system",
        "172.16.0.0/12",
    ],
)
def test_source_ip_and_cidr_in_sql(world: World, source: str) -> None:
    window = {"from": BULK_START_MS, "to": BULK_END_MS}
    expected = [e.detail for e in reversed(world.bulk) if same_source(e.source_ip, source)]
    got = world.query(sourceIp=source, pageSize=200, **window)
    assert got["total"] == len(expected)
    assert [e["detail"] for e in got["entries"]] == expected[:200]
    every = world.op.http.get(QUERY + ".csv", params={"sourceIp": source, **window})  # one call
    assert [r["detail"] for r in csv.DictReader(io.StringIO(every.text))] == expected
    assert expected or source == "172.16.0.0/12"


def same_source(stored: str, wanted: str) -> bool:
    """The oracle: a CIDR contains, an address equals (in any spelling), a sentinel is itself."""
    if "/" in wanted:
        return matches_ip(stored, wanted)
    if stored == wanted:
        return True
    try:
        return ipaddress.ip_address(stored) == ipaddress.ip_address(wanted)
    except ValueError:
        return False


def test_csv_is_cut_at_10000_rows_and_says_so(world: World) -> None:
    window = {"from": BULK_START_MS, "to": BULK_END_MS, "sortDir": "asc"}
    response = world.op.http.get(QUERY + ".csv", params=window)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-keyledger-truncated"] == "true"
    assert response.headers["x-keyledger-total"] == str(BULK_ROWS)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 10_000
    assert [r["detail"] for r in rows[:2]] == ["bulk row 0", "bulk row 1"]
    assert rows[0]["time"] == "2020-01-01T00:00:00.000+00:00"
    small = world.op.http.get(QUERY, params={**window, "format": "csv", "sourceIp": "10.1.2.3"})
    assert small.headers["x-keyledger-truncated"] == "false"
    assert len(list(csv.DictReader(io.StringIO(small.text)))) == -(
        -BULK_ROWS // 6
    )  # every sixth row
    cut = world.cli("query", "--from", str(BULK_START_MS), "--to", "2021-01-01T00:00Z", "--csv")
    assert cut.exit_code == 0, cut.stderr
    assert len(cut.stdout.splitlines()) == 10_001
    assert "cut at 10,000 rows of 10050" in cut.stderr


def test_cli_query_json_and_table(world: World) -> None:
    h = world.history
    args = ["--action", "secret_read", "--action", "secret_read_denied", "--secret", h.secret_a]
    out = world.cli("query", *args, "--from", str(world.since), "--json")
    assert out.exit_code == 0, out.stderr
    api = world.query(
        actions=["secret_read", "secret_read_denied"], secretId=h.secret_a, **{"from": world.since}
    )
    assert out.stdout and json.loads(out.stdout) == api
    assert api["total"] == 5
    table = world.cli(
        "query", *args, "--sort-by", "action", "--sort-dir", "asc", "--page-size", "2"
    )
    assert table.exit_code == 0, table.stderr
    assert "page 1, 2 of 5 entries" in table.stdout and "secret_read" in table.stdout
    actions = world.cli("actions", "--json")
    assert actions.exit_code == 0 and len(json.loads(actions.stdout)) == len(CATALOGUE)


BAD = [
    ({"actions": "secret_reed"}, "unknown action"),
    ({"severities": "urgent"}, "unknown severity"),
    ({"actorKind": "robot"}, "unknown actor kind"),
    ({"from": "2026-11-02T00:00Z", "to": "2026-11-01T00:00Z"}, "from is after to"),
    ({"pageSize": "0"}, "pageSize must be between 1 and 200"),
    ({"pageSize": "201"}, "pageSize must be between 1 and 200"),
    ({"page": "0"}, "page must be between"),
    ({"page": "two"}, "not a whole number"),
    ({"from": "yesterday"}, "neither epoch milliseconds nor an ISO-8601"),
    ({"to": "2026-13-01"}, "neither epoch milliseconds nor an ISO-8601"),
    ({"sourceIp": "10.0.0.0/33"}, "not an IP address or CIDR"),
    ({"sourceIp": "10.0.0.300"}, "not an IP address or CIDR"),
    ({"sourceIp": "2001:db8::/129"}, "not an IP address or CIDR"),
    ({"sortBy": "secretId"}, "sortBy must be one of"),
    ({"sortDir": "up"}, "sortDir must be asc or desc"),
    ({"colour": "red"}, "unknown query parameter"),
]

CLI_BAD = [
    (["--action", "secret_reed"], "unknown action"),
    (["--severity", "urgent"], "unknown severity"),
    (["--from", "2026-11-02T00:00Z", "--to", "2026-11-01T00:00Z"], "from is after to"),
    (["--page-size", "0"], "pageSize must be between 1 and 200"),
    (["--page-size", "201"], "pageSize must be between 1 and 200"),
    (["--page", "0"], "page must be between"),
    (["--from", "2026-11-01T25:00Z"], "ISO-8601"),
    (["--source-ip", "10.0.0.0/33"], "not an IP address or CIDR"),
    (["--sort-by", "colour"], "sortBy must be one of"),
]


def test_bad_input_is_refused_with_the_reason_and_writes_nothing(world: World) -> None:
    before = world.query(pageSize=1)["total"]
    for params, reason in BAD:
        for path in (QUERY, QUERY + ".csv"):
            response = world.op.http.get(path, params=params)
            assert response.status_code == 400, (params, response.text)
            assert reason in response.json()["error"], (params, response.text)
    for args, reason in CLI_BAD:
        for extra in ((), ("--csv",)):
            result = world.cli("query", *args, *extra)
            assert result.exit_code == 1, (args, result.stdout)
            assert reason in " ".join(result.stderr.split()), (args, result.stderr)
    assert world.query(pageSize=1)["total"] == before


def test_the_inserted_lane_keeps_the_access_log_verifiable(world: World) -> None:
    """The 2020 lane is a real chain: the store still verifies with it in place
    (walked in-process on the live store: the CLI's verify, without a process start)."""
    settings = world.live.settings
    if settings.database_url is None:
        engine = sqlite_engine(settings.data_dir / "access.sqlite")
    else:
        engine = make_engine(settings.state_db_url())
    try:
        report = verify_access_log(SqlAccessStore(engine, None))
    finally:
        engine.dispose()
    assert report.ok, report
    assert report.checked >= BULK_ROWS + 5
