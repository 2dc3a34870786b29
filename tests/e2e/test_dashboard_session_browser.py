"""Log out everywhere in a real browser, on both stores: the first browser sits on the
live audit view; a second browser (another session) logs out everywhere; the first
lands on the login page by itself (its stream ends with the session) and its old cookie
opens nothing. On the way: the IP allowlist on the machines page and the checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_dashboard_browser import World, log_in

VALUE = "sk_live_SESSIONS_j8Hq2LmX5vNc"


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start(patience=240)  # a busy machine starts a server slowly
        op = Operator(live)
        stack.callback(op.close)
        browser = stack.enter_context(chromium())
        yield World(live, op, browser, request.param)


def test_journey_log_out_everywhere_sends_the_other_browser_to_login(world: World) -> None:
    live, op = world.live, world.op
    op.secret(op.project("payments"), "stripe-key", VALUE)
    first = world.browser.new_context(viewport=VIEWPORT).new_page()
    second = world.browser.new_context(viewport=VIEWPORT).new_page()
    refused: list[str] = []
    for page in (first, second):
        page.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        log_in(page, live)

    first.get_by_role("link", name="Live audit", exact=True).click()
    first.get_by_text("Live: new records appear below.").wait_for()

    second.get_by_role("link", name="Machines", exact=True).click()
    second.get_by_label("Address or CIDR").fill("not-an-address")
    second.get_by_role("button", name="Add to allowlist").click()
    assert second.get_by_role("alert").is_visible()  # the service's message, nothing saved
    screenshot(second, f"dashboard-allowlist-refused-{world.store}")
    second.get_by_role("link", name="Go back and try again").click()
    second.get_by_label("Address or CIDR").fill("10.20.0.0/16")
    second.get_by_label("Label").fill("office")
    second.get_by_role("button", name="Add to allowlist").click()
    second.get_by_text("Added to the IP allowlist.").wait_for()
    assert second.get_by_role("cell", name="10.20.0.0/16", exact=True).is_visible()
    assert fits_the_viewport(second)
    screenshot(second, f"dashboard-allowlist-{world.store}")

    op.get("/v1/admin/audit/checkpoint")  # one signed checkpoint to list
    second.get_by_role("link", name="Checkpoints", exact=True).click()
    assert second.get_by_role("link", name="Download JSON").first.is_visible()
    assert fits_the_viewport(second)
    screenshot(second, f"dashboard-checkpoints-{world.store}")

    second.get_by_role("button", name="Log out everywhere").click()
    second.wait_for_url(live.url + "/login")
    first.wait_for_url(live.url + "/login", timeout=30_000)  # no click: its stream ended
    screenshot(first, f"dashboard-logged-out-everywhere-{world.store}")
    first.goto(live.url + "/machines")
    assert first.url == live.url + "/login"
    for page in (first, second):
        assert VALUE not in page.content()
    assert refused == []
    first.context.close()
    second.context.close()
