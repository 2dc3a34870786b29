"""The composition root: `build(settings)` wires every part; nothing is built at import.

The HTTP app factory, the CLI's local commands and the tests all come through here,
so the embedded and distributed modes differ only in the settings given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from application.access import MachineGate
from application.accesslog import RecordWriter, lane_origin
from application.accounts import OperatorAccounts
from application.agentbinding import AgentBinding
from application.alerts import Alerts
from application.auditcheck import AuditVerifier
from application.canaries import Canaries, Tripwire
from application.checkpoints import Checkpoints
from application.dockerbundles import DockerBundles
from application.enrollments import Enrollments
from application.failures import AuthFailures
from application.freezes import ProjectFreezes
from application.ledger import Ledger
from application.machines import MachineRegistry
from application.pointintime import PointInTime
from application.policies import Policies
from application.policydryruns import PolicyDryRuns
from application.policygate import PolicyGate
from application.ports import HeadWatch
from application.projecttrash import ProjectTrash
from application.reads import MachineReads
from application.rotations import Rotations
from application.shares import ShareDesk
from application.statecheckpoints import Checkpoints as StateCheckpoints
from application.syncplane import SyncPlane
from application.tempmachines import TempMachines
from application.throttle import Backoff, LoginThrottle
from application.webhooks import Webhooks
from domain.audit import AuditStamp
from infrastructure.accessstore.readcounts import SqlReadCounter
from infrastructure.accessstore.readhistory import SqlReadHistory
from infrastructure.accessstore.store import SqlAccessStore, sqlite_engine
from infrastructure.accessstore.upgrade import move_fetches, upgrade_legacy_access_log
from infrastructure.accessstore.whoread import SqlSecretReads
from infrastructure.checkpointstore import SqlCheckpointLog
from infrastructure.crypto.checkpointkey import CheckpointKey
from infrastructure.crypto.envelope import Envelope
from infrastructure.crypto.keyring import KeyRing
from infrastructure.crypto.passwords import Argon2idHasher
from infrastructure.crypto.signatures import Ed25519KeyMaker, NaclVerifier
from infrastructure.database import make_engine
from infrastructure.datadir import open_data_dir
from infrastructure.eventstore.chain import ChainSource, verify_chain
from infrastructure.eventstore.head import RecorderHead, SqliteHead
from infrastructure.foldsnapshots import ChainPositions, SqlFoldSnapshots
from infrastructure.jobs import Leader, RotationJobs, make_broker
from infrastructure.keystore import KeyStore
from infrastructure.machinestate import SqlNonceStore
from infrastructure.outreach.jobs import OutreachJobs
from infrastructure.outreach.wiring import build_outreach
from infrastructure.readmodels.auditsearch import AuditSearch, embedded_engine
from infrastructure.readmodels.projector import SqlProjector
from infrastructure.readmodels.queries import ReadModels
from infrastructure.rotationstate import SqlHeartbeatStore, SqlRotationDirectory
from infrastructure.sessions import SqlSessionStore
from infrastructure.settings import Settings
from infrastructure.setupcode import FileSetupCode
from infrastructure.sharestore import SqlShareIndex, bundle_index
from infrastructure.siem.source import SqlAuditSource

if TYPE_CHECKING:
    from infrastructure.siem.cursors import SqlCursorStore

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
    canaries: Canaries
    policies: Policies
    dry_runs: PolicyDryRuns
    freezes: ProjectFreezes
    nonces: SqlNonceStore
    access: SqlAccessStore
    records: RecordWriter
    failures: AuthFailures
    unseal_throttle: Backoff
    rotations: Rotations
    sync: SyncPlane
    agents: AgentBinding
    jobs: RotationJobs
    audit_search: AuditSearch
    point_in_time: PointInTime
    audit: AuditVerifier
    checkpoints: Checkpoints
    project_trash: ProjectTrash
    audit_source: SqlAuditSource  # both logs after a cursor: the live stream reads here
    webhooks: Webhooks
    alerts: Alerts
    outreach: OutreachJobs
    shares: ShareDesk
    docker: DockerBundles
    enrollments: Enrollments
    temp_machines: TempMachines

    def close(self) -> None:
        self.jobs.close()
        self.audit_search.close()
        self.failures.flush(everything=True)  # folded counts are written, not lost
        self.records.close()
        self.checkpoints.log.close()
        self.access.close()
        self.ledger.close()
        self.projector.engine.dispose()

    def catch_up(self) -> None:
        self.projector.catch_up()


def build_store(settings: Settings) -> tuple[Ledger, Envelope, SqlProjector, SystemClock]:
    """The parts local operator commands need (verify, rebuild): no keys are loaded."""
    open_data_dir(settings.data_dir, settings.allow_open_data_dir)
    engine = make_engine(settings.state_db_url())
    envelope = Envelope(KeyStore(engine))
    clock = SystemClock()
    ledger = Ledger(settings.event_store_env(), envelope, clock)
    return ledger, envelope, SqlProjector(engine, ledger), clock


def build_access_store(
    settings: Settings, projector: SqlProjector, head: HeadWatch | None = None
) -> SqlAccessStore:
    """The access log (machine reads, refusals) beside the ledger; old stores upgraded.

    Its writer reads the ledger head inside each batch's transaction (see accesslog)."""
    origin = lane_origin()
    if settings.is_distributed:
        statement = projector.app.recorder.max_notification_id_statement  # type: ignore[attr-defined]
        store = SqlAccessStore.distributed(projector.engine, origin, statement)
    else:
        probe = head or SqliteHead(settings.data_dir / "ledger.sqlite")
        store = SqlAccessStore.embedded(settings.data_dir / "access.sqlite", origin, probe.token)
    upgrade_legacy_access_log(settings, store)
    move_fetches(projector.engine, store)
    return store


def build_audit_search(settings: Settings, projector: SqlProjector) -> AuditSearch:
    """The audit query sees both logs in one statement: PostgreSQL holds both tables;
    embedded mode attaches access.sqlite to a read-only state.sqlite connection."""
    if settings.is_distributed:
        return AuditSearch(projector.engine, owns_engine=False)
    data = settings.data_dir
    engine = embedded_engine(data / "state.sqlite", data / "access.sqlite")
    return AuditSearch(engine, owns_engine=True)


def audit_verifier(
    ledger: Ledger, access: SqlAccessStore, checkpoints: Checkpoints | None = None
) -> AuditVerifier:
    """Walks the ledger's chain and every access lane of this store."""
    source = cast(ChainSource, ledger.recorder)
    return AuditVerifier(lambda wanted: verify_chain(source, wanted), access, checkpoints)


def build_point_in_time(
    ledger: Ledger, envelope: Envelope, projector: SqlProjector, access: SqlAccessStore
) -> PointInTime:
    """As-of answers folded from the ledger, resumed from sealed snapshots in the state db."""
    recorder = cast(ChainPositions, ledger.recorder)
    snapshots = SqlFoldSnapshots(projector.engine, recorder, envelope)
    return PointInTime(ledger, SqlSecretReads(access.engine), StateCheckpoints(store=snapshots))


def build_checkpoints(
    settings: Settings,
    projector: SqlProjector,
    access: SqlAccessStore,
    envelope: Envelope,
    clock: SystemClock,
) -> Checkpoints:
    """Signed checkpoints: the table beside the access records, a key from the server key."""
    ledger_db = (
        projector.engine
        if settings.is_distributed
        else sqlite_engine(settings.data_dir / "ledger.sqlite")
    )
    return Checkpoints(
        SqlCheckpointLog(access.engine, ledger_db, owns_ledger=not settings.is_distributed),
        CheckpointKey(envelope),
        clock,
        every_records=settings.checkpoint_records,
        every_ms=settings.checkpoint_seconds * 1000,
    )


def build_shares(
    settings: Settings, ledger: Ledger, projector: SqlProjector, clock: SystemClock
) -> ShareDesk:
    """Share links: sealed by the envelope, passphrases hashed as operator passwords are,
    the recipient endpoint throttled per source (10 free attempts, then up to 15 min)."""
    return ShareDesk(
        ledger=ledger,
        hasher=Argon2idHasher(memory_kib=settings.argon2_memory_kib),
        index=SqlShareIndex(projector.engine),
        clock=clock,
        throttle=Backoff(clock, free=10, max_delay_ms=15 * 60_000),
    )


def _load_server_key(settings: Settings, envelope: Envelope) -> None:
    if settings.start_sealed:
        log.warning("Starting SEALED: run `keyledger unseal --key-file FILE` to open the vault")
        return
    # A key file given to the server itself is proof enough to set the first key.
    if settings.server_key_file is not None:
        envelope.establish(KeyRing.load(settings.server_key_file))
        return
    local = settings.data_dir / "server.key"
    if local.exists():
        envelope.establish(KeyRing.load(local))
        return
    if envelope.has_check():
        log.warning("No server key found: starting SEALED until an operator unseals")
        return
    ring = KeyRing.generate()
    ring.write(local)
    envelope.establish(ring)
    log.warning(
        "\n%s\n  Generated a server key at %s (0600).\n"
        "  Fine for trying keyledger; in production supply KEYLEDGER_SERVER_KEY_FILE\n"
        "  from a secret store, or start sealed (KEYLEDGER_START_SEALED=1) and unseal.\n%s",
        "!" * 72,
        local,
        "!" * 72,
    )


def rotate_later(rotations: Rotations) -> Callable[[str, str], None]:
    """Rotate-after-N: one background thread rotates (standard: a new value; managed: the
    saga), so the read that reached N answers at once. Failures are logged, not lost."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyledger-policy-rotate")

    def done(future: Future[Any]) -> None:
        error = future.exception()
        if error is not None:
            log.error("rotate-after-reads failed: %s", type(error).__name__)

    def rotate(secret_id: str, why: str) -> None:
        pool.submit(rotations.rotate_now, secret_id, AuditStamp.system(why)).add_done_callback(done)

    return rotate


def build(settings: Settings, *, load_key: bool = True) -> Services:
    ledger, envelope, projector, clock = build_store(settings)
    if load_key:
        _load_server_key(settings, envelope)
    setup_code = FileSetupCode(settings.data_dir)
    head: HeadWatch = (
        RecorderHead(ledger.recorder)
        if settings.is_distributed
        else SqliteHead(settings.data_dir / "ledger.sqlite")
    )
    access = build_access_store(settings, projector, head)
    records = RecordWriter(access, clock)
    checkpoints = build_checkpoints(settings, projector, access, envelope, clock)
    failures = AuthFailures(records, clock)
    accounts = OperatorAccounts(
        ledger=ledger,
        hasher=Argon2idHasher(memory_kib=settings.argon2_memory_kib),
        sessions=SqlSessionStore(projector.engine),
        setup_code=setup_code,
        clock=clock,
        session_ttl_ms=settings.session_ttl_seconds * 1000,
        idle_ms=settings.session_idle_seconds * 1000,
        failures=failures,
        throttle=LoginThrottle(clock),
    )
    if ledger.vault() is None and setup_code.ensure():
        log.warning("First start: one-time setup code written to %s", setup_code.path)
    projector.catch_up()
    read_models = ReadModels(projector.engine, access)
    nonces = SqlNonceStore(projector.engine)
    gate = MachineGate(ledger, NaclVerifier(), nonces, clock, envelope, records, head, failures)
    heartbeats = SqlHeartbeatStore(projector.engine)
    rotations = Rotations(ledger, heartbeats, SqlRotationDirectory(projector.engine))
    leader = Leader(
        projector.engine if settings.is_distributed else None,
        settings.data_dir / "scheduler.lock",
    )
    broker = make_broker(settings.broker_url)
    jobs = RotationJobs(rotations, broker, leader, projector.catch_up)
    audit_source = SqlAuditSource(projector.engine, access.engine)
    webhooks, alerts, outreach_actors = build_outreach(
        settings, projector.engine, audit_source, envelope, ledger, clock, broker
    )
    jobs.also.append(outreach_actors.tick)
    shares = build_shares(settings, ledger, projector, clock)
    jobs.also.append(shares.expire_due)  # each tick (1 s): a lapsed share goes within seconds
    docker = DockerBundles(
        ledger, Ed25519KeyMaker(), SqlShareIndex(projector.engine, bundle_index), clock, failures
    )
    jobs.also.append(docker.expire_due)  # an unused bundle's key is destroyed at 15 min
    machines = MachineRegistry(ledger, clock, read_models, NaclVerifier(), failures)
    temp_machines = TempMachines(ledger, clock, read_models, machines.machine)
    jobs.also.append(temp_machines.expire_due)  # each tick (1 s): expired machines disabled
    freezes = ProjectFreezes(ledger)
    tripwire = Tripwire(ledger, freezes, records, read_models)
    policies = Policies(ledger, clock)
    return Services(
        settings=settings,
        ledger=ledger,
        envelope=envelope,
        accounts=accounts,
        projector=projector,
        read_models=read_models,
        setup_code=setup_code,
        clock=clock,
        machines=machines,
        gate=gate,
        reads=MachineReads(
            ledger,
            gate,
            read_models,
            access,
            tripwire,
            PolicyGate(gate, SqlReadCounter(access.engine), clock, rotate_later(rotations)),
        ),
        canaries=Canaries(ledger, read_models, SqlSecretReads(access.engine)),
        policies=policies,
        dry_runs=PolicyDryRuns(ledger, policies, SqlReadHistory(access.engine), clock),
        freezes=freezes,
        nonces=nonces,
        access=access,
        records=records,
        failures=failures,
        unseal_throttle=Backoff(clock, free=5, max_delay_ms=15 * 60_000),
        rotations=rotations,
        sync=SyncPlane(ledger, gate, heartbeats),
        agents=AgentBinding(ledger, clock),
        jobs=jobs,
        audit_search=build_audit_search(settings, projector),
        point_in_time=build_point_in_time(ledger, envelope, projector, access),
        audit=audit_verifier(ledger, access, checkpoints),
        checkpoints=checkpoints,
        project_trash=ProjectTrash(ledger, read_models),
        audit_source=audit_source,
        webhooks=webhooks,
        alerts=alerts,
        outreach=outreach_actors,
        shares=shares,
        docker=docker,
        enrollments=Enrollments(ledger, clock, failures),
        temp_machines=temp_machines,
    )


def build_audit_export(settings: Settings) -> tuple[SqlAuditSource, SqlCursorStore]:
    """What `keyledger audit export` reads (both logs, straight from the store) and where
    it keeps its per-sink cursors. Read-only on the logs: no lane, no key, no upgrade."""
    from infrastructure.accessstore.store import sqlite_engine
    from infrastructure.siem.cursors import SqlCursorStore, cursor_engine

    open_data_dir(settings.data_dir, settings.allow_open_data_dir)
    engine = make_engine(settings.state_db_url())
    if settings.is_distributed:
        access = SqlAccessStore(engine, None)
        cursors = SqlCursorStore(engine)
    else:
        access = SqlAccessStore(sqlite_engine(settings.data_dir / "access.sqlite"), None)
        cursors = SqlCursorStore(cursor_engine(settings.data_dir / "export.sqlite"))
    return SqlAuditSource(engine, access.engine), cursors
