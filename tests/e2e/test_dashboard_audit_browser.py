"""The live audit view in a real browser, on both stores: a secret created through the
operator API appears as a new row without a reload (EventSource on the session cookie,
rows built with textContent under the strict CSP), and the query page renders."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_dashboard_browser import World, log_in

VALUE = "sk_live_LIVEAUDIT_9Qw2e8RtY7uIo"


@pytest.fixture(scope="module", params=STORES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        browser = stack.enter_context(chromium())
        yield World(live, op, browser, request.param)


def test_journey_a_new_record_appears_in_the_live_view_without_reload(world: World) -> None:
    live, op = world.live, world.op
    payments = op.project("payments")
    page = world.browser.new_page(viewport=VIEWPORT)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    log_in(page, live)
    page.get_by_role("link", name="Live audit", exact=True).click()
    page.wait_for_url(live.url + "/audit/live")
    page.get_by_text("Live: new records appear below.").wait_for()
    loads = page.evaluate("performance.getEntriesByType('navigation').length")

    secret_id = op.secret(payments, "stripe-key", VALUE)  # written outside the browser
    op.post(f"/v1/admin/projects/{payments}/freeze")
    row = page.locator("#audit-rows tr", has_text=secret_id)
    row.wait_for(timeout=15_000)
    assert row.get_by_text("secret_create").is_visible()
    assert row.get_by_text("Info", exact=True).is_visible()  # severity in words
    page.locator("#audit-rows tr", has_text="project_freeze").wait_for(timeout=15_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == loads
    assert page.url == live.url + "/audit/live"  # no reload, no navigation
    assert not page.get_by_text("No new records yet").is_visible()
    assert VALUE not in page.content()
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-audit-live-{world.store}")

    page.get_by_role("link", name="Audit", exact=True).click()
    page.get_by_label("Text in detail").fill("")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("cell", name="secret_create").first.is_visible()
    assert VALUE not in page.content()
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-audit-query-{world.store}")

    page.get_by_role("link", name="Canaries", exact=True).click()
    assert page.get_by_role("button", name="Unfreeze payments").is_visible()  # frozen above
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-canaries-{world.store}")
    page.get_by_role("link", name="Vault history", exact=True).click()
    page.get_by_label("At").fill(str(int(time.time() * 1000)))
    page.get_by_label("Secret ID (for who could read)").fill(secret_id)
    page.get_by_role("button", name="Show").click()
    assert page.get_by_role("heading", name=f"Who could read {secret_id}", exact=False).is_visible()
    screenshot(page, f"dashboard-history-{world.store}")
    assert refused == []
    page.close()
