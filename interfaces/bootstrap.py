"""The composition root: `build(settings)` wires every part; nothing is built at import.

The HTTP app factory, the CLI's local commands and the tests all come through here,
so the embedded and distributed modes differ only in the settings given.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from application.access import MachineGate
from application.accounts import OperatorAccounts
from application.ledger import Ledger
from application.machines import MachineRegistry
from application.reads import MachineReads
from infrastructure.crypto.envelope import Envelope
from infrastructure.crypto.keyring import KeyRing
from infrastructure.crypto.passwords import Argon2idHasher
from infrastructure.crypto.signatures import NaclVerifier
from infrastructure.database import make_engine
from infrastructure.keystore import KeyStore
from infrastructure.machinestate import SqlFetchLog, SqlNonceStore
from infrastructure.readmodels.projector import SqlProjector
from infrastructure.readmodels.queries import ReadModels
from infrastructure.sessions import SqlSessionStore
from infrastructure.settings import Settings
from infrastructure.setupcode import FileSetupCode

log = logging.getLogger("keyledger")


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


@dataclass
class Services:
    settings: Settings
    ledger: Ledger
    envelope: Envelope
    accounts: OperatorAccounts
    projector: SqlProjector
    read_models: ReadModels
    setup_code: FileSetupCode
    clock: SystemClock
    machines: MachineRegistry
    gate: MachineGate
    reads: MachineReads
    nonces: SqlNonceStore

    def close(self) -> None:
        self.ledger.close()
        self.projector.engine.dispose()


def build_store(settings: Settings) -> tuple[Ledger, Envelope, SqlProjector, SystemClock]:
    """The parts local operator commands need (verify, rebuild): no keys are loaded."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.state_db_url())
    envelope = Envelope(KeyStore(engine))
    clock = SystemClock()
    ledger = Ledger(settings.event_store_env(), envelope, clock)
    return ledger, envelope, SqlProjector(engine, ledger), clock


def _load_server_key(settings: Settings, envelope: Envelope) -> None:
    if settings.start_sealed:
        log.warning("Starting SEALED: run `keyledger unseal --key-file FILE` to open the vault")
        return
    if settings.server_key_file is not None:
        envelope.unseal(KeyRing.load(settings.server_key_file))
        return
    local = settings.data_dir / "server.key"
    if local.exists():
        envelope.unseal(KeyRing.load(local))
        return
    if envelope.has_check():
        log.warning("No server key found: starting SEALED until an operator unseals")
        return
    ring = KeyRing.generate()
    ring.write(local)
    envelope.unseal(ring)
    log.warning(
        "\n%s\n  Generated a server key at %s (0600).\n"
        "  Fine for trying keyledger; in production supply KEYLEDGER_SERVER_KEY_FILE\n"
        "  from a secret store, or start sealed (KEYLEDGER_START_SEALED=1) and unseal.\n%s",
        "!" * 72,
        local,
        "!" * 72,
    )


def build(settings: Settings, *, load_key: bool = True) -> Services:
    ledger, envelope, projector, clock = build_store(settings)
    if load_key:
        _load_server_key(settings, envelope)
    setup_code = FileSetupCode(settings.data_dir)
    accounts = OperatorAccounts(
        ledger=ledger,
        hasher=Argon2idHasher(memory_kib=settings.argon2_memory_kib),
        sessions=SqlSessionStore(projector.engine),
        setup_code=setup_code,
        clock=clock,
        session_ttl_ms=settings.session_ttl_seconds * 1000,
    )
    if ledger.vault() is None and setup_code.ensure():
        log.warning("First start: one-time setup code written to %s", setup_code.path)
    projector.catch_up()
    read_models = ReadModels(projector.engine)
    nonces = SqlNonceStore(projector.engine)
    gate = MachineGate(ledger, NaclVerifier(), nonces, clock, envelope)
    return Services(
        settings=settings,
        ledger=ledger,
        envelope=envelope,
        accounts=accounts,
        projector=projector,
        read_models=read_models,
        setup_code=setup_code,
        clock=clock,
        machines=MachineRegistry(ledger, clock, read_models),
        gate=gate,
        reads=MachineReads(ledger, gate, read_models, SqlFetchLog(projector.engine)),
        nonces=nonces,
    )
