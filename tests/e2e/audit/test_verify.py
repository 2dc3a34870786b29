"""`keyledger audit verify` asks the server that holds the store, and names tampering.

It used to open the local default data directory: beside a server with another data
dir it printed "chain intact, 0 events" and exited 0. Here the default data dir
(XDG_DATA_HOME) is always an empty temporary one, so a verify that reports the
server's event count must have asked the server. One server per store (conftest);
each tamper case is undone before the next. The CLI runs in-process.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.e2e.audit.conftest import READS, Store
from tests.e2e.conftest import free_port


def test_intact_reports_what_the_server_holds(store: Store) -> None:
    report = store.report()
    assert report["intact"] is True and report["firstBad"] is None
    assert report["ledger"]["checked"] == len(store.raw.event_ids()) > 0
    assert report["access"]["checked"] >= READS and report["access"]["lanes"] >= 1
    human = store.cli("audit", "verify")
    assert human.exit_code == 0 and "chain intact" in human.stderr
    assert not store.nowhere.exists()


def test_no_session_or_no_server_is_not_a_verdict(store: Store, tmp_path: Path) -> None:
    """The measured bug: no session for the server → a clear error, never "intact"."""
    alone = store.cli("audit", "verify", KEYLEDGER_HOME=str(tmp_path / "home"))
    assert alone.exit_code == 3 and "keyledger login" in alone.stderr
    assert "intact" not in alone.output
    dead = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "down").mkdir()
    (tmp_path / "down" / "session.json").write_text(json.dumps({"token": "t", "server": dead}))
    down = store.cli(
        "audit", "verify", KEYLEDGER_HOME=str(tmp_path / "down"), KEYLEDGER_SERVER=None
    )
    assert down.exit_code == 2 and "Cannot reach" in down.stderr
    assert "intact" not in down.output
    assert not store.nowhere.exists()


def test_offline_verifies_only_a_named_copy(store: Store, tmp_path: Path) -> None:
    where = store.copy()[1:]
    offline = store.report("--offline", *where)
    online = store.report()
    assert offline["intact"] is True
    assert offline["ledger"]["checked"] == online["ledger"]["checked"] > 0
    assert offline["access"]["checked"] == online["access"]["checked"]
    assert store.cli("audit", "verify", "--offline").exit_code == 2
    assert store.cli("audit", "verify", *where).exit_code == 2  # a copy needs --offline
    empty = store.cli("audit", "verify", "--offline", "--data-dir", str(tmp_path / "none"))
    assert empty.exit_code == 2 and "No keyledger store" in empty.stderr
    assert not (tmp_path / "none" / "ledger.sqlite").exists()


def _case(store: Store, case: str) -> tuple[AbstractContextManager[None], str, str]:
    ids = store.raw.event_ids()
    middle = ids[len(ids) // 2]
    lane, count = store.raw.busiest_lane()
    assert count >= 3
    return {
        "edit-event": (store.raw.edited_event(middle), f"event #{middle}", "edited"),
        "delete-event": (store.raw.deleted_event(middle), f"event #{middle}", "deleted"),
        "edit-record": (store.raw.edited_record(lane, 2), f"record {lane}:2", "edited"),
        "delete-record": (store.raw.deleted_records(lane, 2, 2), f"record {lane}:2", "deleted"),
    }[case]


@pytest.mark.parametrize("case", ["edit-event", "delete-event", "edit-record", "delete-record"])
def test_tampering_is_named(store: Store, case: str) -> None:
    tamper, first_bad, reason = _case(store, case)
    with tamper:
        report = store.report(code=1)
        assert report["intact"] is False
        assert report["firstBad"] == first_bad and reason in report["reason"]
        human = store.cli("audit", "verify")
        assert human.exit_code == 1 and first_bad in human.stderr
    assert store.report()["intact"] is True  # restored: the verdict followed the rows
