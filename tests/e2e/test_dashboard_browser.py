"""The dashboard journey in a real browser, on both stores: log in, overview, projects,
a secret created through the operator API appears and its value never does, log out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import OWNER, PASSWORD, Operator, register_machine

VALUE = "sk_live_BROWSER_7fQ2mZx81LkPq0"


@dataclass
class World:
    live: LiveServer
    op: Operator
    browser: Browser
    store: str


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


def log_in(page: Page, live: LiveServer) -> None:
    page.goto(live.url + "/")
    assert page.url.endswith("/login")  # not logged in: the form first
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live.url + "/")


def test_journey_log_in_see_a_new_secret_never_its_value_log_out(world: World) -> None:
    live, op = world.live, world.op
    payments = op.project("payments")
    op.secret(payments, "database", None, host="db.internal", user="app")
    legacy = op.project("legacy-billing")
    op.post(f"/v1/admin/projects/{legacy}/freeze")
    register_machine(live, op, "web-1", project_id=payments)
    register_machine(live, op, "batch-7", approve=False)

    page = world.browser.new_page(viewport=VIEWPORT)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    log_in(page, live)
    page.wait_for_function("typeof window.htmx === 'object'")  # vendored, allowed by the CSP
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_text("batch-7", exact=True).is_visible()  # waiting for approval
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-overview-{world.store}")

    secret_id = op.secret(payments, "stripe-key", VALUE)  # created outside the browser
    page.get_by_role("link", name="Projects", exact=True).click()
    page.get_by_role("link", name="payments", exact=True).click()
    assert page.get_by_role("heading", name="payments").is_visible()
    assert page.get_by_text(secret_id, exact=True).is_visible()
    assert page.get_by_role("cell", name="stripe-key").is_visible()
    assert VALUE not in page.content()
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-project-{world.store}")

    page.get_by_role("link", name="Machines", exact=True).click()
    assert page.get_by_text("Pending approval", exact=True).is_visible()
    assert fits_the_viewport(page)
    screenshot(page, f"dashboard-machines-{world.store}")

    assert refused == []  # nothing on these pages needed an exception to the CSP
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(live.url + "/login")
    page.goto(live.url + "/projects")
    assert page.url.endswith("/login")  # the session is gone
    page.close()


def test_the_browser_refuses_inline_code_by_policy(world: World) -> None:
    """The CSP is live in the browser: an injected inline script does not run."""
    page = world.browser.new_page(viewport=VIEWPORT)
    page.goto(world.live.url + "/login")
    ran = page.evaluate(
        """() => { const s = document.createElement('script');
        s.textContent = 'window.injected = true'; document.body.appendChild(s);
        return window.injected === true; }"""
    )
    assert ran is False
    page.close()
