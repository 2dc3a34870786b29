"""The official `sikkerkey` Python SDK, unmodified, against a live keyledger server.

Every call goes through the SDK's own signing, URL building and error mapping; the
only thing this file provides is an identity.json the SDK loads by path.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sikkerkey import SikkerKey
from sikkerkey.client import WatchEvent, WatchStatus
from sikkerkey.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    FieldNotFoundError,
    NotFoundError,
    SecretStructureError,
    ServerSealedError,
)

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine, Operator, register_machine, stranger_identity

STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


@dataclass
class Vault:
    op: Operator
    payments: str
    infra: str
    stripe: str
    db: str
    other: str  # in `infra`, machine is a member but has no grant
    hidden: str  # in a project the machine is not in
    machine: Machine

    def sdk(self) -> SikkerKey:
        return SikkerKey(str(self.machine.identity_path))


@pytest.fixture
def vault(live: LiveServer) -> Vault:
    op = Operator(live)
    payments = op.project("payments")
    infra = op.project("infra")
    secret_project = op.project("elsewhere")
    stripe = op.secret(payments, "stripe-key", STRIPE)
    db = op.secret(infra, "db.main", host="db.internal", port="5432", password="pw-1")
    other = op.secret(infra, "unGranted", "x")
    hidden = op.secret(secret_project, "hidden", "nope")
    machine = register_machine(live, op, "web-1")
    op.add_to_project(machine.machine_id, payments)
    op.add_to_project(machine.machine_id, infra)
    op.grant(machine.machine_id, stripe)
    op.grant(machine.machine_id, db)
    return Vault(op, payments, infra, stripe, db, other, hidden, machine)


def test_reads_list_and_export(vault: Vault) -> None:
    sk = vault.sdk()
    assert sk.machine_id == vault.machine.machine_id
    assert sk.vault_id == vault.machine.vault_id

    assert sk.get_secret(vault.stripe) == STRIPE
    assert sk.get_fields(vault.db) == {"host": "db.internal", "port": "5432", "password": "pw-1"}
    assert sk.get_field(vault.db, "port") == "5432"
    with pytest.raises(FieldNotFoundError, match="user"):
        sk.get_field(vault.db, "user")
    with pytest.raises(SecretStructureError):
        sk.get_fields(vault.stripe)

    listed = {s.id: s for s in sk.list_secrets()}
    assert set(listed) == {vault.stripe, vault.db}
    assert listed[vault.stripe].name == "stripe-key"
    assert listed[vault.stripe].field_names is None
    assert listed[vault.stripe].project_id == vault.payments
    assert listed[vault.db].name == "db.main"
    assert listed[vault.db].field_names == "host,port,password"
    assert listed[vault.db].project_id == vault.infra

    by_project = sk.list_secrets_by_project(vault.infra)
    assert [(s.id, s.project_id) for s in by_project] == [(vault.db, vault.infra)]
    assert sk.list_secrets_by_project(vault.payments)[0].id == vault.stripe

    assert sk.export() == {
        "STRIPE_KEY": STRIPE,
        "DB_MAIN_HOST": "db.internal",
        "DB_MAIN_PORT": "5432",
        "DB_MAIN_PASSWORD": "pw-1",
    }
    assert sk.export(vault.payments) == {"STRIPE_KEY": STRIPE}

    # Every value handed out was audited as a read by this machine.
    reads = [e for e in vault.op.audit() if e["action"] == "secret_read"]
    assert {e["secretId"] for e in reads} == {vault.stripe, vault.db}
    assert {e["machineId"] for e in reads} == {vault.machine.machine_id}


def test_watch_reports_changed_deleted_and_access_denied(live: LiveServer, vault: Vault) -> None:
    op, machine = vault.op, vault.machine
    gone = op.secret(vault.payments, "to-delete", "bye")
    revoked = op.secret(vault.payments, "to-revoke", "mine for now")
    op.grant(machine.machine_id, gone)
    op.grant(machine.machine_id, revoked)

    sk = vault.sdk()
    sk.set_poll_interval(10)
    assert sk.get_secret(vault.stripe) == STRIPE  # the baseline the change is measured from
    events: queue.Queue[WatchEvent] = queue.Queue()
    try:
        for secret_id in (vault.stripe, gone, revoked, vault.db):
            sk.watch(secret_id, events.put)
        time.sleep(0.5)  # let the first poll (immediate) take its baseline
        op.replace(vault.stripe, "rotated-value")
        op.delete(gone)
        op.revoke_grant(machine.machine_id, revoked)

        seen: dict[str, WatchEvent] = {}
        deadline = time.monotonic() + 25  # at most two poll cycles
        while len(seen) < 3 and time.monotonic() < deadline:
            try:
                event = events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen[event.secret_id] = event
    finally:
        sk.close()

    assert set(seen) == {vault.stripe, gone, revoked}, seen  # db did not change: no event
    assert seen[vault.stripe].status is WatchStatus.CHANGED
    assert seen[vault.stripe].value == "rotated-value"
    assert seen[vault.stripe].fields is None
    assert seen[gone].status is WatchStatus.DELETED
    assert seen[revoked].status is WatchStatus.ACCESS_DENIED


def test_error_classes(live: LiveServer, vault: Vault, tmp_path: Path) -> None:
    sk = vault.sdk()
    with pytest.raises(AccessDeniedError):
        sk.get_secret(vault.other)  # member of the project, but no grant
    with pytest.raises(AccessDeniedError):
        sk.get_secret(vault.hidden)  # not a member of the project
    with pytest.raises(NotFoundError):
        sk.get_secret("sk_0000000000")
    with pytest.raises(NotFoundError):
        sk.get_secret("sk_" + "z" * 10)

    stranger = SikkerKey(str(stranger_identity(live, tmp_path / "stranger")))
    with pytest.raises(AuthenticationError):
        stranger.get_secret(vault.stripe)
    with pytest.raises(AuthenticationError):
        stranger.list_secrets()

    audit = vault.op.audit()
    denied = [e for e in audit if e["action"] == "secret_read_denied"]
    assert {e["secretId"] for e in denied if e["secretId"]} == {vault.other, vault.hidden}
    # A read of a missing secret is refused and audited too (it uses up its nonce).
    missing = [e for e in denied if e["detail"].startswith("no such secret")]
    assert len(missing) == 2 and all(e["secretId"] is None for e in missing)
    assert any(e["action"] == "auth_failure" and e["detail"] == "unknown machine" for e in audit)


def test_sealed_server_raises_server_sealed(vault: Vault) -> None:
    sk = vault.sdk()
    assert sk.get_secret(vault.stripe) == STRIPE
    vault.op.seal()
    started = time.monotonic()
    with pytest.raises(ServerSealedError):
        sk.get_secret(vault.stripe)  # the SDK retries 503 three times (1 + 2 + 4 s)
    assert time.monotonic() - started >= 7
    vault.op.unseal()
    assert sk.get_secret(vault.stripe) == STRIPE
