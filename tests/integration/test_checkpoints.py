"""When the server signs a checkpoint on its own (every N records or M minutes), on
both stores, with the real table and the key derived from the server key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from application.checkpoints import Checkpoints
from domain.errors import InvalidInput
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build

PASSWORD = "correct horse 1!"


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = build(settings)
    try:
        yield services
    finally:
        services.close()


def every(services: Services, records: int, ms: int) -> Checkpoints:
    made = services.checkpoints
    return Checkpoints(made.log, made.signer, services.clock, records, ms)


def add_events(services: Services) -> None:
    services.accounts.login("owner@example.com", PASSWORD, "127.0.0.1")


def test_signs_when_due_and_not_before(services: Services) -> None:
    assert services.checkpoints.tick() is None  # empty logs: nothing to sign
    code = services.setup_code.read()
    assert code is not None
    services.accounts.initialise(code, "owner@example.com", PASSWORD, "127.0.0.1")
    first = services.checkpoints.tick()  # none yet: sign at once
    assert first is not None and first.number == 1
    assert services.checkpoints.tick() is None  # nothing new, M not passed

    by_count = every(services, records=1_000, ms=10**9)
    add_events(services)
    assert by_count.tick() is None  # fewer than N new records
    by_count = every(services, records=1, ms=10**9)
    made = by_count.tick()
    assert made is not None and made.number == 2

    by_time = every(services, records=10**9, ms=0)
    assert by_time.tick() is None  # M passed, but nothing changed
    add_events(services)
    latest = by_time.tick()
    assert latest is not None and latest.checkpoint.total() > made.checkpoint.total()
    assert [c.number for c in services.checkpoints.log.all()] == [1, 2, 3]
    signer = services.checkpoints.signer
    for signed in services.checkpoints.log.all():
        assert signer.verify(signed.public_key, signed.checkpoint.canonical(), signed.signature)
        assert signed.public_key == signer.public_key()


def test_intervals_come_from_the_environment() -> None:
    env = {"KEYLEDGER_CHECKPOINT_RECORDS": "50", "KEYLEDGER_CHECKPOINT_SECONDS": "2"}
    settings = Settings.from_env(env)
    assert (settings.checkpoint_records, settings.checkpoint_seconds) == (50, 2)
    assert Settings.from_env({}).checkpoint_records == 10_000
    with pytest.raises(InvalidInput, match="KEYLEDGER_CHECKPOINT_SECONDS"):
        Settings.from_env({"KEYLEDGER_CHECKPOINT_SECONDS": "0"})
