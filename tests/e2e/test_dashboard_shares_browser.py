"""Share links in a real browser, on both stores: the owner creates a share on the
Shares page; a recipient in a browser context of their own, with JavaScript off, sees
the warning, types the passphrase and sees the value once; a reload shows it gone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_dashboard_browser import World, log_in
from tests.e2e.test_dashboard_vault_browser import nav

SHARED = "vendor-db-PASSWORD-5d1f0c9e"


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


def create_share(page: Page, name: str, value: str) -> tuple[str, str]:
    nav(page, "Shares")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Value", exact=True).fill(value)
    page.get_by_role("button", name="Create share").click()
    assert page.get_by_text("Shown only on this page", exact=False).is_visible()
    assert value not in page.content()  # the operator typed it: it is not echoed back
    return page.locator("#share-url").inner_text(), page.locator("#share-passphrase").inner_text()


def recipient_page(browser: Browser) -> Page:
    """Another person's browser: no session cookie, no JavaScript."""
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    return context.new_page()


def test_journey_create_a_share_and_the_recipient_sees_it_once(world: World) -> None:
    live, store = world.live, world.store
    owner = world.browser.new_page(viewport=VIEWPORT)
    log_in(owner, live)
    url, passphrase = create_share(owner, "vendor db creds", SHARED)
    screenshot(owner, f"dashboard-share-created-{store}")

    page = recipient_page(world.browser)
    response = page.goto(url)
    assert response is not None and response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert page.get_by_text("A wrong passphrase destroys this share.").is_visible()
    screenshot(page, f"share-recipient-ask-{store}")
    page.get_by_label("Passphrase").fill(passphrase)
    page.get_by_role("button", name="Show the value").click()
    assert page.locator("#share-value").inner_text() == SHARED
    screenshot(page, f"share-recipient-value-{store}")
    page.goto(url)  # again, or anyone else: gone
    assert page.get_by_text("This share is viewed.").is_visible()
    assert SHARED not in page.content()
    screenshot(page, f"share-recipient-gone-{store}")
    page.context.close()

    nav(owner, "Shares")
    row = owner.get_by_role("row").filter(has_text="vendor db creds").first
    assert row.get_by_text("Viewed").is_visible()
    assert SHARED not in owner.content() and passphrase not in owner.content()
    assert fits_the_viewport(owner)
    owner.close()


def test_a_wrong_passphrase_destroys_and_the_owner_can_destroy(world: World) -> None:
    live, store = world.live, world.store
    owner = world.browser.new_page(viewport=VIEWPORT)
    log_in(owner, live)
    url, _ = create_share(owner, "wrong-guess", "guess-me-" + store)
    page = recipient_page(world.browser)
    page.goto(url)
    page.get_by_label("Passphrase").fill("not it")
    page.get_by_role("button", name="Show the value").click()
    assert page.get_by_text("Wrong passphrase: the share is now destroyed").is_visible()
    screenshot(page, f"share-recipient-wrong-{store}")
    page.context.close()

    create_share(owner, "to-destroy", "destroy-me-" + store)
    nav(owner, "Shares")
    row = owner.get_by_role("row").filter(has_text="to-destroy")
    row.get_by_role("button", name="Destroy").click()
    assert owner.get_by_text("Share destroyed: its key is gone.").is_visible()
    statuses = {s["name"]: s["status"] for s in world.op.get("/v1/admin/shares")["shares"]}
    assert statuses["wrong-guess"] == "destroyed" and statuses["to-destroy"] == "destroyed"
    screenshot(owner, f"dashboard-shares-{store}")
    owner.close()
