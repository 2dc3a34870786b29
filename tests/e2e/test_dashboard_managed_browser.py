"""The issue's journey "retry a failed rotation" in a real browser: a REAL agent process
rotates a REAL scram-sha-256 PostgreSQL role; its admin role is locked out, so three
rotations are rejected and the Managed secrets page shows "Rotation failed" with the
agent's error. The owner fixes the database, clicks Retry rotation, then Rotate now,
and watches the new password go live; a login as the managed role proves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.databases import Server
from tests.e2e.agent_helpers import Harness, db_accepts, live_credentials, pg_super, wait_until
from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import LiveServer
from tests.e2e.test_dashboard_browser import log_in
from tests.e2e.test_managed_failures import rejected, started

pytestmark = pytest.mark.parametrize(
    "settings", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def h(live: LiveServer, pg_server: Server, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(live, pg_server, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def row_of(page: Page, name: str) -> str:
    return page.get_by_role("row").filter(has_text=name).inner_text()


def test_journey_retry_a_failed_rotation(h: Harness, request: pytest.FixtureRequest) -> None:
    store = request.node.callspec.params["settings"]
    secret_id, user, admin, machine, agent = started(h, own_admin=True)
    name = f"pg-{user}"
    live = live_credentials(h.live, machine, secret_id)
    pg_super(h.pg, "ALTER ROLE {} NOLOGIN", admin)  # the agent can no longer apply anything
    for _ in range(3):
        rejected(h, agent, secret_id)
    wait_until(lambda: h.status(secret_id)["rotation"] == "failed", "the rotation to fail")

    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        log_in(page, h.live)
        assert page.get_by_role("link", name="1 failed or held rotations").is_visible()
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Managed secrets"
        ).click()
        row = row_of(page, name)
        assert "Rotation failed" in row and "Healthy" in row and "apply failed" in row, row
        assert "v1" in row
        screenshot(page, f"dashboard-managed-failed-{store}")
        assert fits_the_viewport(page)

        pg_super(h.pg, "ALTER ROLE {} LOGIN", admin)  # the operator fixes the cause
        page.get_by_role("button", name=f"Retry rotation of {name}").click()
        assert "Rotation reset" in page.locator(".banner.ok").inner_text()
        assert "Rotation failed" not in row_of(page, name)
        page.get_by_role("button", name=f"Rotate {name} now").click()
        assert "Rotation issued" in page.locator(".banner.ok").inner_text()

        def gone_live() -> bool:
            page.reload()
            text = row_of(page, name)
            return "Up to date" in text and "v2" in text

        wait_until(gone_live, "the retried rotation to go live on the page", timeout=45)
        row = row_of(page, name)
        assert "Healthy" in row and "apply failed" not in row, row
        screenshot(page, f"dashboard-managed-retried-{store}")
        html = page.content()
        page.close()

    now = live_credentials(h.live, machine, secret_id)
    assert now["password"] != live["password"]
    assert db_accepts(h.pg, user, now["password"])
    assert not db_accepts(h.pg, user, live["password"])
    for value in (live["password"], now["password"], h.pg.admin[1]):
        assert value not in html
    actions = [e["action"] for e in h.op.audit()]
    for action in ("rotation_failed", "rotation_retry", "rotation_confirm"):
        assert action in actions, action
