"""The project page's Docker bundle form in a real browser, on both stores: the owner
ticks a secret, gets the link shown once (never in a URL), the link gives the ZIP
once; the official SDK reads the ticked secret with it; a form without a CSRF token
or without a secret is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sikkerkey import SikkerKey

from tests.e2e.browser import VIEWPORT, chromium, fits_the_viewport, screenshot
from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import csrf_of, logged_in
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_dashboard_browser import World, log_in
from tests.e2e.test_docker_bundle import unzip


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


def test_journey_a_docker_bundle_from_the_project_page(world: World, tmp_path: Path) -> None:
    live, op, store = world.live, world.op, world.store
    project = op.project("web")
    wanted = op.secret(project, "API_KEY", "docker-api-key-value")
    op.secret(project, "UNTICKED", "no")
    page = world.browser.new_page(viewport=VIEWPORT)
    log_in(page, live)
    page.goto(f"{live.url}/projects/{project}")
    form = page.get_by_role("form", name="Docker bundle")
    form.get_by_label("Machine name").fill("web-api")
    form.get_by_label("Mounted at").fill(str(tmp_path / "kl"))
    form.get_by_label("API_KEY").check()
    screenshot(page, f"dashboard-docker-form-{store}")
    form.get_by_role("button", name="Create Docker bundle").click()
    assert page.get_by_text("Shown only on this page", exact=False).is_visible()
    url = page.locator("#bundle-url").inner_text()
    assert url.startswith(f"{live.url}/v1/docker/bundle/") and url not in page.url
    screenshot(page, f"dashboard-docker-created-{store}")
    assert fits_the_viewport(page)
    page.close()

    files = unzip(httpx.get(url).content, tmp_path / "kl")
    assert json.loads(files["identity.json"])["machineName"] == "web-api"
    assert SikkerKey(str(tmp_path / "kl" / "identity.json")).get_secret(wanted) == (
        "docker-api-key-value"
    )
    assert httpx.get(url).status_code == 410


def test_the_form_needs_its_csrf_token_and_a_secret(world: World) -> None:
    live, op = world.live, world.op
    project = op.project("web-refusals")
    secret = op.secret(project, "S", "v")
    before = op.get("/v1/admin/machines")
    with logged_in(live) as client:
        csrf = csrf_of(client.get(f"/projects/{project}").text)
        forged = client.post(f"/projects/{project}/docker", data={"secret_id": secret})
        assert forged.status_code == 403
        empty = client.post(f"/projects/{project}/docker", data={"csrf": csrf})
        assert empty.status_code == 400 and "secrets" in empty.text
        both = client.post(
            f"/projects/{project}/docker",
            data={"csrf": csrf, "secret_id": [secret, "sk_0000000000"]},
        )
        assert both.status_code == 400
    assert op.get("/v1/admin/machines") == before
