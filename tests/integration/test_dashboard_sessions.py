"""The dashboard's session limits in OperatorAccounts, on both stores, with the clock
moved by hand: idle and absolute timeouts, activity, log out everywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.errors import AuthenticationFailed
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build
from tests.integration.test_accounts import EMAIL, IP, PASSWORD, initialise

MINUTE = 60_000


class HandClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = build(settings)
    try:
        initialise(services)
        yield services
    finally:
        services.close()


@pytest.fixture
def clock(services: Services) -> HandClock:
    clock = HandClock(services.clock.now_ms())
    services.accounts.clock = clock
    return clock


def test_activity_keeps_a_session_open_and_idleness_ends_it(
    services: Services, clock: HandClock
) -> None:
    accounts = services.accounts
    assert accounts.idle_ms == 30 * MINUTE  # the default
    token, _ = accounts.open_dashboard(EMAIL, PASSWORD, IP)
    for _ in range(4):  # 4 × 20 min of use: longer than the idle limit in all
        clock.now += 20 * MINUTE
        accounts.dashboard_session(token)
    clock.now += 29 * MINUTE
    accounts.dashboard_session(token, touch=False)  # the live stream asks without touching
    clock.now += 1 * MINUTE
    with pytest.raises(AuthenticationFailed, match="idle"):
        accounts.dashboard_session(token)
    with pytest.raises(AuthenticationFailed):
        accounts.session(token)  # revoked on the server: the API refuses it too


def test_the_absolute_lifetime_ends_even_a_busy_session(
    services: Services, clock: HandClock
) -> None:
    accounts = services.accounts
    token, record = accounts.open_dashboard(EMAIL, PASSWORD, IP)
    while clock.now + 10 * MINUTE < record.expires_ms:
        clock.now += 10 * MINUTE
        accounts.dashboard_session(token)
    clock.now = record.expires_ms
    with pytest.raises(AuthenticationFailed, match="expired"):
        accounts.dashboard_session(token)


def test_only_a_session_opened_by_the_dashboard_opens_pages(services: Services) -> None:
    cli_token, _ = services.accounts.login(EMAIL, PASSWORD, IP)
    with pytest.raises(AuthenticationFailed, match="dashboard"):
        services.accounts.dashboard_session(cli_token)


def test_log_out_everywhere_ends_every_session_of_the_operator(services: Services) -> None:
    accounts = services.accounts
    first, record = accounts.open_dashboard(EMAIL, PASSWORD, IP)
    second, _ = accounts.open_dashboard(EMAIL, PASSWORD, IP)
    cli, _ = accounts.login(EMAIL, PASSWORD, IP)
    assert accounts.logout_everywhere(record, IP) == 3
    for token in (first, second, cli):
        with pytest.raises(AuthenticationFailed):
            accounts.session(token)
    services.projector.catch_up()
    assert accounts.logout_everywhere(record, IP) == 0  # nothing left open
