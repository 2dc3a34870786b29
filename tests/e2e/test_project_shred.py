"""Crypto-shredding a project, through a live server on both stores.

Delete puts a project in the trash (machines are answered as for a deleted secret),
restore brings it back intact, purge destroys its key as an event. After a purge the
raw store is read directly: the wrapped key is gone from the key table (and, on
SQLite, from the file's bytes), and even with the server key loaded the secret's
stored ciphertext no longer opens; the hash chains still verify. The CLI runs in
process against one server per store, shared by the module.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from domain import ids
from domain.errors import IntegrityFailure
from infrastructure.crypto.keyring import KeyRing
from infrastructure.settings import Settings
from interfaces.bootstrap import build_store
from interfaces.cli import main
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import (
    OWNER,
    PASSWORD,
    Machine,
    Operator,
    register_machine,
    signed,
)

VALUE = "sk_live_shred_me_7c41e0"


@dataclass
class World:
    live: LiveServer
    op: Operator
    machine: Machine
    count: int = 0

    def project_with_secret(self) -> tuple[str, str]:
        """A project with one secret this world's machine may read."""
        self.count += 1
        pid = self.op.project(f"doomed-{self.count}")
        sid = self.op.secret(pid, "stripe-key", VALUE)
        self.op.add_to_project(self.machine.machine_id, pid)
        self.op.grant(self.machine.machine_id, sid)
        return pid, sid

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(main.app, list(args), env=self.live.env)

    def read(self, sid: str) -> Any:
        return signed(self.live, self.machine, "GET", f"/v1/secret/{sid}").send()

    def actions(self) -> list[tuple[str, str, str | None]]:
        return [(e["action"], e["severity"], e["projectId"]) for e in self.op.audit(1000)]


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = logged_in(live)
        stack.callback(op.close)
        yield World(live, op, register_machine(live, op, "web-1"))


def logged_in(live: LiveServer) -> Operator:
    """`Operator`, its init and login run in process (a CLI process each costs seconds)."""
    for verb in ("init", "login"):
        args = [verb, "--email", OWNER, "--password-stdin"]
        result = CliRunner().invoke(main.app, args, input=PASSWORD, env=live.env)
        assert result.exit_code == 0, result.output
    op = Operator.__new__(Operator)
    op.live = live
    token = json.loads((live.home / "session.json").read_text())["token"]
    op.http = httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return op


def open_stored(settings: Settings, project_id: str, secret_id: str) -> str:
    """Decrypt the secret's stored ciphertext straight from the store, server key loaded."""
    ledger, envelope, projector, _clock = build_store(settings)
    try:
        envelope.unseal(KeyRing.load(settings.data_dir / "server.key"))
        project = ledger.repository.get(ids.aggregate_id(project_id))
        secret = ledger.repository.get(ids.aggregate_id(secret_id))
        return envelope.open_value(project.key_ref, secret_id, secret.current.sealed).decode()
    finally:
        ledger.close()
        projector.engine.dispose()


def raw(settings: Settings, query: str, *params: str) -> list[tuple[Any, ...]]:
    """Rows read straight from the store (state DB on SQLite, the one database on PG)."""
    if settings.database_url:
        with psycopg.connect(settings.database_url) as conn:
            return list(conn.execute(query.replace("?", "%s"), params).fetchall())
    path = settings.data_dir / ("ledger.sqlite" if "keyledger_events" in query else "state.sqlite")
    with sqlite3.connect(path) as conn:
        return list(conn.execute(query, params).fetchall())


def test_delete_hides_the_project_from_machines_and_restore_brings_it_back(world: World) -> None:
    pid, sid = world.project_with_secret()
    assert world.read(sid).json() == {"value": VALUE}

    deleted = world.cli("project", "delete", pid, "--json")
    assert deleted.exit_code == 0, deleted.output
    body = json.loads(deleted.output)
    assert body["id"] == pid and body["purgeAt"] - body["deletedAt"] == 30 * 24 * 3600 * 1000
    gone = world.read(sid)  # as for a deleted secret: 404, the value never in it
    assert gone.status_code == 404 and "error" in gone.json() and VALUE not in gone.text
    listed = world.op.get("/v1/admin/projects")["projects"]
    assert pid not in [p["id"] for p in listed]
    assert pid in [p["id"] for p in world.op.get("/v1/admin/trash")["projects"]]
    trash = world.cli("project", "trash")
    assert trash.exit_code == 0 and pid in trash.output
    refused = world.op.http.post(f"/v1/admin/projects/{pid}/secrets", json={"name": "x"})
    assert refused.status_code == 409 and "restore it first" in refused.json()["error"]

    restored = world.cli("project", "restore", pid)
    assert restored.exit_code == 0 and f"{pid} restored" in restored.output
    assert world.read(sid).json() == {"value": VALUE}  # membership and grant intact
    ours = [(a, s) for a, s, p in world.actions() if p == pid]
    assert ("project_delete", "high") in ours and ("project_restore", "high") in ours


def test_purge_destroys_the_key_and_nothing_can_open_the_secret(world: World) -> None:
    settings = world.live.settings
    pid, sid = world.project_with_secret()
    key_rows = "SELECT wrapped FROM kl_keys WHERE owner_id = ? AND kind = 'project'"
    ((wrapped,),) = raw(settings, key_rows, pid)
    assert open_stored(settings, pid, sid) == VALUE  # so the check below can fail

    early = world.cli("project", "purge", pid)  # not in the trash: refused, nothing written
    assert early.exit_code == 1 and "deleted before it is purged" in early.output
    assert raw(settings, key_rows, pid) == [(wrapped,)]

    assert world.cli("project", "delete", pid).exit_code == 0
    purged = world.cli("project", "purge", pid, "--json")
    assert purged.exit_code == 0, purged.output
    assert json.loads(purged.output) == {"id": pid, "purged": True}

    assert raw(settings, key_rows, pid) == []
    for owner in (pid, sid):  # the master key and the data keys it wrapped
        assert raw(settings, "SELECT key_ref FROM kl_keys WHERE owner_id = ?", owner) == []
    if not settings.database_url:  # not in a free page, not in the WAL
        for path in settings.data_dir.glob("state.sqlite*"):
            still_there = bytes(wrapped) in path.read_bytes()  # never print key bytes
            assert not still_there, f"the wrapped key is still in {path.name}"
    with pytest.raises(IntegrityFailure):
        open_stored(settings, pid, sid)
    states = raw(settings, "SELECT state FROM keyledger_events")
    assert states and not any(VALUE.encode() in bytes(s) for (s,) in states)

    read = world.read(sid)
    assert read.status_code == 404 and "error" in read.json() and VALUE not in read.text
    for path in (f"/v1/admin/secrets/{sid}", f"/v1/admin/projects/{pid}"):
        answer = world.op.http.get(path)
        assert answer.status_code == 404 and "error" in answer.json(), path
    again = world.cli("project", "restore", pid)
    assert again.exit_code == 1 and "cannot be restored" in again.output

    verify = world.cli("audit", "verify", "--json")
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.output)["intact"] is True
    assert ("project_purge", "high", pid) in world.actions()


@pytest.mark.parametrize(
    ("verb", "target", "message"),
    [
        ("delete", "proj_" + "a" * 10, "not found"),
        ("restore", "proj_" + "a" * 10, "not found"),
        ("purge", "proj_" + "a" * 10, "not found"),
        ("purge", "sk_" + "a" * 10, "not found"),
        ("restore", "LIVE", "not in the trash"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    world: World, verb: str, target: str, message: str
) -> None:
    if target == "LIVE":
        target = world.op.project(f"live-{verb}")
    before = world.actions()
    result = world.cli("project", verb, target)
    assert result.exit_code == 1 and message in result.output.lower(), result.output
    answer = world.op.http.post(f"/v1/admin/projects/{target}/{verb}")
    assert answer.status_code in (404, 409) and message in answer.json()["error"].lower()
    assert world.actions() == before
