"""The scheduler, the Dramatiq actors and agent-health sweeps against real stores.

A settable clock stands in for waiting five minutes; everything else is real: the
event store (SQLite / PostgreSQL), the read model the scheduler queries, the
StubBroker + in-process worker of the embedded mode and Redis for the distributed one.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest

from domain.audit import AuditStamp
from domain.errors import InvalidInput
from domain.managed import Connection, ProviderType
from domain.rotation import RotationPolicy
from domain.values import Charset
from infrastructure.jobs import QUEUE, Leader
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build

OPERATOR = AuditStamp.system("test operator")


class SettableClock:
    def __init__(self, services: Services) -> None:
        self.offset_ms = 0
        self.base = services.clock

    def now_ms(self) -> int:
        return self.base.now_ms() + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


def _wire(services: Services) -> SettableClock:
    clock = SettableClock(services)
    services.ledger.clock = clock
    services.rotations.clock = clock
    services.sync.clock = clock
    return clock


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build(settings)
    yield built
    built.close()


def _drain(services: Services) -> None:
    services.jobs.broker.join(QUEUE, timeout=10_000)
    assert services.jobs.worker is not None
    services.jobs.worker.join()


def test_scheduled_rotation_of_a_standard_and_a_structured_secret(services: Services) -> None:
    clock = _wire(services)
    project = services.ledger.create_project("jobs", "", OPERATOR)
    plain = services.ledger.create_secret(project.project_id, "plain", OPERATOR, value="v1")
    shaped = services.ledger.create_secret(
        project.project_id, "shaped", OPERATOR, fields={"user": "app", "token": "t1"}
    )
    services.rotations.set_schedule(plain.secret_id, RotationPolicy(300, 20), OPERATOR)
    services.rotations.set_schedule(
        shaped.secret_id,
        RotationPolicy(600, 16, Charset.NUMBERS, fields=("token",)),
        OPERATOR,
    )
    services.jobs.start_worker(threads=2)
    assert services.jobs.tick() == 0  # nothing due yet

    clock.advance(301)
    assert services.jobs.tick() == 1
    _drain(services)
    assert len(services.ledger.reveal(plain.secret_id)) == 20
    assert services.ledger.secret(plain.secret_id).current.number == 2
    assert services.jobs.tick() == 0  # the next one is 300 s away, not again now

    clock.advance(300)
    assert services.jobs.tick() == 2
    _drain(services)
    assert services.ledger.secret(plain.secret_id).current.number == 3
    value = json.loads(services.ledger.reveal(shaped.secret_id))
    assert value["user"] == "app"  # a static field keeps its value
    assert value["token"] != "t1" and value["token"].isdigit() and len(value["token"]) == 16

    # Paused: not rotated however overdue; resumed: rotated at once.
    services.rotations.pause(plain.secret_id, OPERATOR)
    clock.advance(3600)
    services.jobs.tick()
    _drain(services)
    assert services.ledger.secret(plain.secret_id).current.number == 3
    services.rotations.resume(plain.secret_id, OPERATOR)
    services.jobs.tick()
    _drain(services)
    assert services.ledger.secret(plain.secret_id).current.number == 4


def test_a_job_run_twice_rotates_once(services: Services) -> None:
    clock = _wire(services)
    project = services.ledger.create_project("twice", "", OPERATOR)
    secret = services.ledger.create_secret(project.project_id, "s", OPERATOR, value="v1")
    schedule = services.rotations.set_schedule(secret.secret_id, RotationPolicy(300), OPERATOR)
    clock.advance(301)
    due = schedule.next_due_ms
    assert services.rotations.run_due(secret.secret_id, due).startswith("version")
    assert services.rotations.run_due(secret.secret_id, due) == "not due"
    assert services.ledger.secret(secret.secret_id).current.number == 2


def test_a_frozen_project_s_rotation_waits_until_unfrozen(services: Services) -> None:
    clock = _wire(services)
    project = services.ledger.create_project("frozen", "", OPERATOR)
    secret = services.ledger.create_secret(project.project_id, "s", OPERATOR, value="v1")
    schedule = services.rotations.set_schedule(secret.secret_id, RotationPolicy(300), OPERATOR)
    services.freezes.freeze(project.project_id, OPERATOR)
    clock.advance(301)
    due = schedule.next_due_ms
    assert services.rotations.run_due(secret.secret_id, due) == "frozen"
    assert services.ledger.secret(secret.secret_id).current.number == 1
    services.freezes.unfreeze(project.project_id, OPERATOR)
    assert services.rotations.run_due(secret.secret_id, due).startswith("version")


def test_canaries_never_rotate(services: Services) -> None:
    project = services.ledger.create_project("canaries", "", OPERATOR)
    canary = services.canaries.create(project.project_id, "aws-root-key", OPERATOR)
    with pytest.raises(InvalidInput, match="canary"):
        services.rotations.set_schedule(canary.secret_id, RotationPolicy(300), OPERATOR)
    with pytest.raises(InvalidInput, match="canary"):
        services.rotations.rotate_now(canary.secret_id, OPERATOR)


def _managed(services: Services) -> str:
    project = services.ledger.create_project("managed", "", OPERATOR)
    connection = Connection(ProviderType.POSTGRESQL, "127.0.0.1", 5432, "test", "postgres", "pw")
    secret = services.rotations.create_managed(
        project.project_id, "db", connection, "app_user", RotationPolicy(300), OPERATOR
    )
    return secret.secret_id


def test_pending_rotation_is_held_while_the_agent_is_silent(services: Services) -> None:
    clock = _wire(services)
    secret_id = _managed(services)
    schedule = services.rotations.schedule(secret_id)
    schedule.set_agent("agent-machine", clock.now_ms(), OPERATOR)
    services.ledger.save(schedule)
    services.heartbeats = services.rotations.heartbeats
    services.rotations.heartbeats.beat(secret_id, "agent-machine", clock.now_ms())
    schedule = services.rotations.schedule(secret_id)
    schedule.change_agent_status("healthy", "", OPERATOR)
    services.ledger.save(schedule)
    services.jobs.start_worker(threads=1)

    clock.advance(301)  # due, and the agent's last beat is 301 s old
    assert services.jobs.tick() == 1
    _drain(services)
    live_before = services.ledger.secret(secret_id).current.number
    services.jobs.tick()  # the sweep notices the silence
    status = services.rotations.status(secret_id)
    assert status["rotation"] == "pending"
    assert status["agent"] == "unhealthy" and status["held"] is True
    assert services.ledger.secret(secret_id).current.number == live_before  # no split
    services.jobs.tick()  # held is recorded once, not every tick
    topics = [
        type(e).TOPIC
        for e in services.ledger.repository.event_store.get(
            services.rotations.schedule(secret_id).id
        )
    ]
    assert topics.count("keyledger.rotation.Held") == 1
    assert topics.count("keyledger.rotation.AgentStatusChanged") == 2  # healthy, unhealthy


def test_only_one_scheduler_leads(settings: Settings) -> None:
    services = build(settings)
    try:
        engine = services.projector.engine if settings.is_distributed else None
        lock_file = settings.data_dir / "scheduler.lock"
        first, second = Leader(engine, lock_file), Leader(engine, lock_file)
        assert first.acquire() and first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire()
        second.release()
    finally:
        services.close()


@pytest.mark.postgres
def test_distributed_jobs_go_through_redis(pg_url: str, tmp_path: object) -> None:
    from pathlib import Path

    base = Settings(data_dir=Path(str(tmp_path)) / "data", database_url=pg_url)
    settings = replace(base, broker_url=f"redis://127.0.0.1:6379/{secrets.randbelow(8) + 8}")
    services = build(settings)
    try:
        services.jobs.broker.flush_all()
        clock = _wire(services)
        project = services.ledger.create_project("redis", "", OPERATOR)
        secret = services.ledger.create_secret(project.project_id, "s", OPERATOR, value="v1")
        services.rotations.set_schedule(secret.secret_id, RotationPolicy(300), OPERATOR)
        clock.advance(301)
        assert services.jobs.tick() == 1
        services.jobs.start_worker(threads=1)
        _drain(services)
        assert services.ledger.secret(secret.secret_id).current.number == 2
    finally:
        services.close()
