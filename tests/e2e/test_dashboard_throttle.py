"""The login throttle of issue 5 guards the dashboard's form too (in a real browser).

A module of its own: the throttle is per source address, and every test here comes
from 127.0.0.1, so it must not hold back other modules' logins on the same server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import VIEWPORT, chromium, screenshot
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import OWNER, Operator

FREE_FAILURES = 5


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Browser, str]]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        stack.callback(Operator(live).close)
        yield live, stack.enter_context(chromium()), request.param


def test_a_wrong_password_five_times_is_throttled(server: tuple[LiveServer, Browser, str]) -> None:
    live, browser, store = server
    page = browser.new_page(viewport=VIEWPORT)

    def attempt() -> str:
        page.goto(live.url + "/login")
        page.get_by_label("Email").fill(OWNER)
        page.get_by_label("Password").fill("not the password")
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        return page.get_by_role("alert").inner_text()

    for _ in range(FREE_FAILURES):
        assert attempt() == "Invalid email or password"
    # The next attempts wait 1 s, 2 s, 4 s…: one of them lands inside its wait even
    # on a slow machine, and is refused before the password is checked.
    messages = [attempt() for _ in range(3)]
    assert any(m.startswith("Too many failed attempts") for m in messages), messages
    screenshot(page, f"dashboard-throttled-{store}")
    page.close()
