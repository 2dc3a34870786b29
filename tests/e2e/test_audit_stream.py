"""`GET /v1/admin/audit/stream` against a live server on each store.

Records of both logs (vault changes, machine reads) arrive as they are written, in the
entry shape of `GET /v1/admin/audit`; a client that reconnects with `Last-Event-ID`
gets every later record once; a bad cursor, no session or one stream too many is
refused with `{"error"}`. On PostgreSQL a second API process on the same database
streams what the first writes. Last, the server is stopped with streams open (it must
stop at once) and restarted under a following `audit tail --follow`.
"""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from infrastructure.settings import Settings
from tests.conftest import FAST_ARGON2_KIB, fresh_pg_database
from tests.e2e.audit_stream import (
    PATH,
    StreamReader,
    follow_cli,
    open_stream,
)
from tests.e2e.conftest import LiveServer, prepare
from tests.e2e.machine_helpers import Machine, Operator, register_machine, signed

VALUE = "sk_live_stream_never_5e2b"
STREAMS = 3  # the server's cap on open streams, set low for the test


@dataclass
class Vault:
    live: LiveServer
    op: Operator
    token: str
    project: str
    secret: str
    machine: Machine

    @property
    def postgres(self) -> bool:
        return self.live.settings.database_url is not None

    def read(self) -> None:
        path = f"/v1/secret/{self.secret}"
        assert signed(self.live, self.machine, "GET", path).send().status_code == 200


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def vault(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Vault]:
    with ExitStack() as stack:
        root = tmp_path_factory.mktemp(request.param)
        url = stack.enter_context(fresh_pg_database()) if request.param == "postgres" else None
        settings = Settings(
            data_dir=root / "data", database_url=url, argon2_memory_kib=FAST_ARGON2_KIB
        )
        live = prepare(
            settings,
            root,
            KEYLEDGER_AUDIT_STREAMS=str(STREAMS),
            KEYLEDGER_CHECKPOINT_SECONDS="3600",
        )
        stack.callback(live.stop)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        token = op.http.headers["Authorization"].removeprefix("Bearer ")
        project = op.project("payments")
        secret = op.secret(project, "stripe-key", VALUE)
        machine = register_machine(live, op, "web-1", project_id=project, grants=(secret,))
        yield Vault(live, op, token, project, secret, machine)


def test_new_records_of_both_logs_arrive_in_the_audit_entry_shape(vault: Vault) -> None:
    stream = open_stream(vault.live.url, vault.token)
    try:
        assert stream.quiet(1.0) == []  # only records written from now on
        vault.op.secret(vault.project, "db-password", "pw-not-streamed-3f1")
        vault.read()
        got = stream.until(lambda e: e["action"] == "secret_read")
    finally:
        stream.close()
    actions = [e.entry["action"] for e in got]
    assert actions[0] == "secret_create" and actions[-1] == "secret_read", actions
    ledger, access = got[0].entry, got[-1].entry
    assert ledger["log"] == "ledger" and access["log"] == "access"
    assert ":" in access["id"] and access["machineId"] == vault.machine.machine_id
    known = {e["id"]: e for e in vault.op.audit(limit=1000)}
    for event in got:  # the same entry the audit endpoint gives, field for field
        assert known[event.entry["id"]] == event.entry
    text = "\n".join(stream.raw)
    assert VALUE not in text and "pw-not-streamed-3f1" not in text


def test_reconnecting_with_last_event_id_misses_and_repeats_nothing(vault: Vault) -> None:
    first = open_stream(vault.live.url, vault.token)
    try:
        vault.op.secret(vault.project, "before-drop", "v")
        vault.read()
        seen = first.until(lambda e: e["action"] == "secret_read")
    finally:
        first.close()
    # While no client listens: vault changes and machine reads, both logs move on.
    away = vault.op.secret(vault.project, "while-away", "v")
    vault.read()
    vault.read()
    second = open_stream(vault.live.url, vault.token, last_event_id=seen[-1].id)
    try:
        later = vault.op.secret(vault.project, "after-reconnect", "v")
        resumed = second.until(lambda e: e["action"] == "secret_create" and e["secretId"] == later)
        assert second.quiet(1.0) == []
    finally:
        second.close()
    ids = [e.entry["id"] for e in seen + resumed]
    assert len(ids) == len(set(ids)), ids  # nothing twice
    since = seen[0].entry["timestamp"]
    written = [e["id"] for e in vault.op.audit(limit=1000) if e["timestamp"] >= since]
    assert set(written) <= set(ids), set(written) - set(ids)  # nothing missed
    assert resumed[0].entry["secretId"] == away
    assert [e.entry["action"] for e in resumed].count("secret_read") == 2
    # `?after=` is the same cursor, for clients that cannot set the header.
    third = open_stream(vault.live.url, vault.token, after=seen[-1].id)
    try:
        assert [e.id for e in third.take(len(resumed))] == [e.id for e in resumed]
    finally:
        third.close()


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


BAD_CURSORS = {
    "not base64": "%%%not-a-cursor",
    "base64 of text": _b64("hello")[:-2] + "xx",
    "not an object": _b64([1, 2]),
    "unknown keys": _b64({"l": 1, "a": {}, "x": 1}),
    "negative ledger": _b64({"l": -1, "a": {}}),
    "seq not a number": _b64({"l": 1, "a": {"abc": "7"}}),
    "bad lane name": _b64({"l": 1, "a": {"a b": 7}}),
    "oversize": "A" * 9000,
}


@pytest.mark.parametrize("name", list(BAD_CURSORS))
def test_a_bad_last_event_id_is_refused(vault: Vault, name: str) -> None:
    headers = {"Authorization": f"Bearer {vault.token}", "Last-Event-ID": BAD_CURSORS[name]}
    response = httpx.get(vault.live.url + PATH, headers=headers, timeout=10)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}


def test_follow_with_a_bad_cursor_exits_1_with_the_reason(vault: Vault) -> None:
    result = vault.live.cli("audit", "tail", "--follow", "--after", "not-a-cursor")
    assert result.code == 1, result
    assert "Last-Event-ID is not a cursor this server issued (HTTP 400)" in result.stderr


def test_no_session_no_stream(vault: Vault) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-session"}):
        response = httpx.get(vault.live.url + PATH, headers=headers, timeout=10)
        assert response.status_code == 401, response.text
        assert set(response.json()) == {"error"}


def test_one_stream_beyond_the_cap_is_refused_and_a_hung_up_one_frees_its_slot(
    vault: Vault,
) -> None:
    streams = [open_stream(vault.live.url, vault.token) for _ in range(STREAMS)]
    try:
        headers = {"Authorization": f"Bearer {vault.token}"}
        refused = httpx.get(vault.live.url + PATH, headers=headers, timeout=10)
        assert refused.status_code == 429, refused.text
        assert set(refused.json()) == {"error"}
        assert "Retry-After" in refused.headers
        streams.pop().close()
        streams.append(_open_when_freed(vault))
    finally:
        for stream in streams:
            stream.close()


def _open_when_freed(vault: Vault) -> StreamReader:
    """The server frees a hung-up stream's slot as soon as it sees the hang-up."""
    deadline = time.monotonic() + 3
    while True:
        try:
            return open_stream(vault.live.url, vault.token)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_record_written_through_one_process_reaches_a_stream_on_the_other(
    vault: Vault, tmp_path: Path
) -> None:
    if not vault.postgres:
        pytest.skip("one embedded store has one server process")
    key_file = str(vault.live.settings.data_dir / "server.key")
    settings = replace(vault.live.settings, data_dir=tmp_path / "data")
    other = prepare(settings, tmp_path, KEYLEDGER_SERVER_KEY_FILE=key_file)
    try:
        other.start()
        on_other = open_stream(other.url, vault.token)  # the session is the database's
        try:
            written = vault.op.secret(vault.project, "through-a", "v")  # through A
            vault.read()  # a machine read through A: A's own access lane
            got = on_other.until(lambda e: e["action"] == "secret_read")
        finally:
            on_other.close()
        assert got[0].entry["secretId"] == written
        assert got[-1].entry["machineId"] == vault.machine.machine_id
        # The other process's cursor resumes on A: the next record, once.
        on_a = open_stream(vault.live.url, vault.token, last_event_id=got[-1].id)
        try:
            later = vault.op.secret(vault.project, "after-switch", "v")
            assert on_a.take(1)[0].entry["secretId"] == later
            assert on_a.quiet(1.0) == []
        finally:
            on_a.close()
    finally:
        other.stop()


def test_graceful_stop_ends_open_streams_and_follow_resumes_after_restart(vault: Vault) -> None:
    if vault.postgres:
        pytest.skip("the stop path is the same on both stores; run once, on SQLite")
    live = vault.live
    follower = follow_cli(live)  # connected: `--follow` prints only records from now on
    try:
        stream = open_stream(live.url, vault.token)
        before = vault.op.secret(vault.project, "before-stop", "v")
        first = follower.until(before)
        assert live.process is not None
        started = time.monotonic()
        live.process.terminate()
        assert live.process.wait(15) == 0  # not held up by the two open streams
        assert time.monotonic() - started < 10
        assert stream.ended.wait(5)  # the server closed the stream
        live.process = None
        live.start()  # same port, same store: the CLI reconnects with its last id
        follower.connected()
        after = vault.op.secret(vault.project, "after-restart", "v")
        second = follower.until(after)
        follower.cli.send_signal(signal.SIGINT)
        assert follower.cli.wait(10) == 0
    finally:
        follower.cli.kill()
    ids = [e["id"] for e in first + second]
    assert len(ids) == len(set(ids)), ids
    created = [e["secretId"] for e in first + second if e["action"] == "secret_create"]
    assert created == [before, after]


def test_a_stream_can_start_at_a_time_or_with_the_last_records(vault: Vault) -> None:
    vault.op.secret(vault.project, "tail-one", "v")
    vault.read()
    vault.op.secret(vault.project, "tail-two", "v")
    vault.read()
    written = sorted(vault.op.audit(limit=1000), key=lambda e: (e["timestamp"], e["id"]))
    newest = written[-3:]
    tail = open_stream(vault.live.url, vault.token, tail=3)
    try:
        got = tail.take(3)
        assert tail.quiet(1.0) == []  # those three, then only what comes
    finally:
        tail.close()
    assert {e.entry["id"] for e in got} == {e["id"] for e in newest}
    assert {e.entry["log"] for e in got} == {"ledger", "access"}  # both logs, merged
    since_ms = newest[0]["timestamp"]
    expected = {e["id"] for e in written if e["timestamp"] >= since_ms}
    since = open_stream(vault.live.url, vault.token, since=since_ms)
    try:
        from_then = since.take(len(expected))
        assert since.quiet(1.0) == []
    finally:
        since.close()
    assert {e.entry["id"] for e in from_then} == expected


@pytest.mark.parametrize(
    "params", [{"since": "-1"}, {"tail": "1001"}, {"tail": "x"}, {"since": "1", "tail": "1"}]
)
def test_a_bad_start_is_refused(vault: Vault, params: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {vault.token}"}
    response = httpx.get(vault.live.url + PATH, params=params, headers=headers, timeout=10)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}


def test_follow_with_a_limit_prints_the_last_records_first(vault: Vault) -> None:
    if vault.postgres:
        pytest.skip("the CLI's side is the same on both stores; run once, on SQLite")
    last = vault.op.secret(vault.project, "last-before-follow", "v")
    newest = sorted(vault.op.audit(limit=1000), key=lambda e: (e["timestamp"], e["id"]))[-2:]
    follower = follow_cli(vault.live, "--limit", "2")
    try:
        printed = follower.until(last)
        after = vault.op.secret(vault.project, "first-after-follow", "v")
        printed += follower.until(after)
    finally:
        follower.cli.kill()
    assert {e["id"] for e in printed[:2]} == {e["id"] for e in newest}
    assert printed[-1]["secretId"] == after
