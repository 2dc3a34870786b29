"""The Enrollment page in a real browser, on both stores: the owner creates a token
(shown once), the official SDK enrolls with it and reads its secret, and the machine
appears on the Machines page with its lifetime; revoking shows on the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sikkerkey import SikkerKey

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_dashboard_browser import World, log_in
from tests.e2e.test_dashboard_vault_browser import nav

VALUE = "ci-deploy-key-6c1e"


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


def test_journey_create_token_sdk_enrolls_machine_appears(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, op, store = world.live, world.op, world.store
    project = op.project("deploys")
    secret = op.secret(project, "DEPLOY_KEY", VALUE)
    page = world.browser.new_page(viewport=VIEWPORT)
    log_in(page, live)
    nav(page, "Enrollment")
    page.get_by_label("Name", exact=True).fill("github ci")
    page.get_by_label("Projects").select_option(project)
    page.get_by_label("Secrets to grant").select_option(secret)
    page.get_by_label("Max uses").fill("5")
    page.get_by_label("Name pattern", exact=True).fill("ci-{n}")
    screenshot(page, f"dashboard-enrollment-form-{store}")
    page.get_by_role("button", name="Create enrollment token").click()
    assert page.get_by_text("Shown only on this page", exact=False).is_visible()
    token = page.locator("#enrollment-token").inner_text()
    vault_id = page.locator("#enrollment-vault").inner_text()
    screenshot(page, f"dashboard-enrollment-created-{store}")

    monkeypatch.setenv("SIKKERKEY_API_URL", live.url)
    sdk = SikkerKey.bootstrap_in_memory(vault_id, token, hostname="runner-1")
    assert sdk.get_secret(secret) == VALUE

    nav(page, "Machines")
    row = page.get_by_role("row").filter(has_text="ci-1").first
    assert row.get_by_text("Ephemeral").is_visible() and row.get_by_text("Approved").is_visible()
    assert VALUE not in page.content()
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-enrollment-machine-{store}")

    nav(page, "Enrollment")
    row = page.get_by_role("row").filter(has_text="github ci").first
    assert row.get_by_text("1 / 5").is_visible()
    assert token not in page.content()  # shown once, never listed
    row.get_by_role("button", name="Revoke").click()
    assert page.get_by_text("Enrollment token revoked").is_visible()
    assert page.get_by_role("row").filter(has_text="github ci").first.get_by_text("Revoked")
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-enrollment-revoked-{store}")
    page.close()
