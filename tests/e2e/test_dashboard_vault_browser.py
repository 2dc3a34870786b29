"""The vault journey in a real browser, on both stores: a machine waits for approval,
the owner approves it and grants it a secret in the dashboard (no JavaScript needed
for the forms), and the machine then reads that secret with the official SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page
from sikkerkey import SikkerKey

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.machine_helpers import Operator, register_machine
from tests.e2e.test_dashboard_browser import World, log_in

TYPED = "typed-in-BROWSER-9c1e77aa42"


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


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


def test_journey_approve_a_machine_grant_it_a_secret_and_the_sdk_reads_it(world: World) -> None:
    live = world.live
    machine = register_machine(live, world.op, "worker-3", approve=False)
    page = world.browser.new_page(viewport=VIEWPORT)
    log_in(page, live)

    nav(page, "Projects")
    page.get_by_label("New project").fill("checkout")
    page.get_by_role("button", name="Create project").click()
    assert page.get_by_text("Project created", exact=False).is_visible()
    page.get_by_label("Name", exact=True).fill("payment-token")
    page.get_by_label("Value", exact=True).fill(TYPED)
    page.get_by_role("button", name="Save secret").click()
    assert page.get_by_text("will not be shown again", exact=False).is_visible()
    assert page.get_by_role("cell", name="payment-token").is_visible()
    assert TYPED not in page.content()

    nav(page, "Machines")
    assert page.get_by_text("Pending approval", exact=True).is_visible()
    page.get_by_role("button", name="Approve worker-3").click()
    assert page.get_by_text("Machine approved.", exact=True).is_visible()
    assert page.get_by_text("Approved", exact=True).is_visible()
    screenshot(page, f"dashboard-vault-machines-{world.store}")
    assert fits_the_viewport(page)

    nav(page, "Projects")
    page.get_by_role("link", name="checkout", exact=True).click()
    page.get_by_label("Secret", exact=True).select_option(label="payment-token")
    page.get_by_label("Machine", exact=True).select_option(label="worker-3 (worker-3.internal)")
    page.get_by_role("button", name="Grant").click()
    assert page.get_by_text("Grant added", exact=False).is_visible()
    assert TYPED not in page.content()
    screenshot(page, f"dashboard-vault-project-{world.store}")
    assert fits_the_viewport(page)
    page.close()

    secret_id = next(
        s["id"]
        for p in world.op.get("/v1/admin/projects")["projects"]
        for s in world.op.get(f"/v1/admin/projects/{p['id']}/secrets")["secrets"]
        if s["name"] == "payment-token"
    )
    assert SikkerKey(str(machine.identity_path)).get_secret(secret_id) == TYPED
