"""A secret's life in a real browser, on both stores, forms only (no JavaScript needed):
create it, rename it, give it a new version, roll back, delete it to the trash and
restore it. The API confirms each step; the typed values never appear in a page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_dashboard_browser import World, log_in

FIRST = "typed-in-JOURNEY-first-3d9b5e"
SECOND = "typed-in-JOURNEY-second-a71c04"


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


def flash(page: Page, text: str) -> None:
    assert page.get_by_role("status").filter(has_text=text).is_visible(), page.content()
    assert FIRST not in page.content() and SECOND not in page.content()


def test_journey_create_rename_new_version_rollback_delete_restore(world: World) -> None:
    project = world.op.project("storefront")
    page = world.browser.new_page(viewport=VIEWPORT)
    log_in(page, world.live)
    page.goto(f"{world.live.url}/projects/{project}")
    page.get_by_text("Add a structured secret").click()
    page.get_by_text("Add a managed secret").click()
    assert page.get_by_label("Admin password").get_attribute("type") == "password"
    screenshot(page, f"dashboard-secret-forms-{world.store}")
    assert fits_the_viewport(page)

    page.get_by_label("Name", exact=True).fill("smtp-password")
    page.get_by_label("Value", exact=True).fill(FIRST)
    page.get_by_role("button", name="Save secret").click()
    flash(page, "will not be shown again")
    page.get_by_role("link", name="smtp-password").click()
    secret_id = page.url.rsplit("/", 1)[1]

    page.get_by_label("New name").fill("mail-password")
    page.get_by_role("button", name="Rename").click()
    flash(page, "Secret renamed")
    assert page.get_by_role("heading", name="mail-password").is_visible()

    page.get_by_label("New value").fill(SECOND)
    page.get_by_role("button", name="Save new version").click()
    flash(page, "New version saved")

    page.get_by_role("button", name="Roll back to version 1").click()
    flash(page, "Rolled back")
    assert page.get_by_role("cell", name="rollback to version 1").is_visible()
    secret = world.op.get(f"/v1/admin/secrets/{secret_id}")
    assert (secret["name"], secret["version"]) == ("mail-password", 3)
    screenshot(page, f"dashboard-secret-{world.store}")
    assert fits_the_viewport(page)

    page.get_by_role("button", name="Delete mail-password").click()
    flash(page, "moved to the trash")
    assert "deletedAt" in world.op.get(f"/v1/admin/secrets/{secret_id}")
    screenshot(page, f"dashboard-secret-trash-{world.store}")
    assert fits_the_viewport(page)
    page.get_by_role("button", name="Restore mail-password").click()
    flash(page, "restored from the trash")
    assert "deletedAt" not in world.op.get(f"/v1/admin/secrets/{secret_id}")
    assert page.get_by_role("button", name="Delete mail-password").is_visible()
    page.close()
