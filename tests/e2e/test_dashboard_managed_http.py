"""The dashboard's Managed secrets page over plain HTTP on both stores: agent status in
words (No agent, Healthy, Error with its message), a failed rotation with its error,
Retry rotation and Rotate now behind the CSRF token, the overview's counts, and no value
(the managed password, the admin password) on any of these pages.

The agent here is signed requests from a registered machine (the wire contract of
test_rotation_saga.py); the real agent process is in the browser journey."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import Machine, register_machine, send_signed

ADMIN_PASS = "admin-DASHBOARD-pw-5c0e81d2"
AGENT_ERROR = "database connection failed: role kl_admin cannot log in"


def create(vault: Seeded, project: str, name: str, username: str) -> str:
    body = {
        "name": name,
        "provider": "postgresql",
        "host": "127.0.0.1",
        "port": 5432,
        "database": "app",
        "adminUser": "kl_admin",
        "adminPass": ADMIN_PASS,
        "username": username,
        "intervalSeconds": 3600,
        "length": 24,
        "charset": "alphanumeric",
    }
    made = vault.op.post(f"/v1/admin/projects/{project}/managed-secrets", body, expect=201)
    return str(made["id"])


def agent_post(live: LiveServer, machine: Machine, secret_id: str, verb: str, body: Any) -> None:
    sent = send_signed(live, machine, "POST", f"/v1/secret/{secret_id}/agent/{verb}", body=body)
    assert sent.status_code == 200, sent.text


@dataclass
class Managed:
    vault: Seeded
    failed: str  # healthy agent, three rejections: "Rotation failed"
    erring: str  # its agent heartbeats "error" with a message
    lonely: str  # no agent named
    passwords: tuple[str, ...]  # the live managed passwords, as the agents read them


@pytest.fixture(scope="module", params=STORES)
def managed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Managed]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        vault = seed(live)
        stack.callback(vault.op.close)
        project = vault.op.project("databases")
        failed = create(vault, project, "orders-db", "orders_app")
        erring = create(vault, project, "billing-db", "billing_app")
        lonely = create(vault, project, "reports-db", "reports_app")
        passwords = []
        for secret_id, name in ((failed, "agent-orders"), (erring, "agent-billing")):
            machine = register_machine(
                live, vault.op, name, project_id=project, grants=(secret_id,)
            )
            vault.op.set_agent(secret_id, machine.machine_id)
            read = send_signed(live, machine, "GET", f"/v1/secret/{secret_id}")
            passwords.append(json.loads(read.json()["value"])["password"])
            beat = {"status": "healthy"} if secret_id == failed else {"status": "error"}
            if secret_id == erring:
                beat["error"] = AGENT_ERROR
            agent_post(live, machine, secret_id, "heartbeat", beat)
            if secret_id == failed:
                for attempt in range(3):
                    rid = vault.op.post(f"/v1/admin/secrets/{failed}/rotate")["rotationId"]
                    reason = {
                        "rotationId": rid,
                        "error": f"apply failed: connection refused #{attempt}",
                    }
                    agent_post(live, machine, failed, "reject-rotation", reason)
        yield Managed(vault, failed, erring, lonely, tuple(passwords))


def status(m: Managed, secret_id: str) -> dict[str, Any]:
    result: dict[str, Any] = m.vault.op.get(f"/v1/admin/secrets/{secret_id}/rotation")
    return result


def row(html: str, name: str) -> str:
    """The table row of the managed secret `name`."""
    start = html.index(f'<td class="wrap">{name}<br>')
    return html[start : html.index("</tr>", start)]


def no_value_in(m: Managed, html: str) -> None:
    for value in (*VALUES, ADMIN_PASS, *m.passwords):
        assert value not in html


def test_the_page_shows_agent_status_and_the_failed_rotation(managed: Managed) -> None:
    with logged_in(managed.vault.live) as client:
        page = client.get("/managed")
        overview = client.get("/")
    assert page.status_code == 200
    failed = row(page.text, "orders-db")
    assert "Healthy" in failed and "Rotation failed" in failed
    assert "apply failed: connection refused #2" in failed and "Retry rotation" in failed
    assert "Rotate now" not in failed  # a failed rotation blocks new ones until retried
    erring = row(page.text, "billing-db")
    assert ">Error<" in erring and AGENT_ERROR in erring and "Retry rotation" not in erring
    lonely = row(page.text, "reports-db")
    assert "No agent" in lonely and "Up to date" in lonely and "Rotate now" in lonely
    assert "1 failed rotation, 0 held, 1 agent unhealthy or in error" in page.text
    assert '"number">1</span> failed or held rotations' in overview.text
    assert '"number">1</span> unhealthy agents' in overview.text
    no_value_in(managed, page.text)
    no_value_in(managed, overview.text)


def test_retry_and_rotate_without_a_csrf_token_change_nothing(managed: Managed) -> None:
    with logged_in(managed.vault.live) as client:
        for verb, secret_id in (("retry", managed.failed), ("rotate", managed.lonely)):
            for form in ({}, {"csrf": "0" * 64}, {"csrf": ""}):
                refused = client.post(f"/managed/{secret_id}/{verb}", data=form)
                assert refused.status_code == 403, (verb, form)
    assert status(managed, managed.failed)["rotation"] == "failed"
    assert status(managed, managed.lonely)["rotation"] == "none"
    with httpx.Client(base_url=managed.vault.live.url) as anonymous:  # no session at all
        gone = anonymous.post(f"/managed/{managed.failed}/retry", data={"csrf": "x"})
        assert gone.status_code == 303 and gone.headers["location"] == "/login"


def test_retry_resets_the_failure_then_rotate_now_issues_a_rotation(managed: Managed) -> None:
    before = len([e for e in managed.vault.op.audit() if e["action"] == "rotation_retry"])
    with logged_in(managed.vault.live) as client:
        csrf = csrf_of(client.get("/managed").text)
        done = client.post(f"/managed/{managed.failed}/retry", data={"csrf": csrf})
        assert done.status_code == 303
        assert done.headers["location"] == "/managed?done=rotation-retried"
        page = client.get(done.headers["location"]).text
        assert "Rotation reset" in page and "Retry rotation" not in row(page, "orders-db")
        assert status(managed, managed.failed)["rotation"] == "none"

        again = client.post(f"/managed/{managed.failed}/retry", data={"csrf": csrf})
        assert again.status_code == 409 and "has not failed" in again.text  # nothing to retry

        issued = client.post(f"/managed/{managed.failed}/rotate", data={"csrf": csrf})
        assert issued.headers["location"] == "/managed?done=rotation-issued"
        page = client.get("/managed").text
        assert "Pending" in row(page, "orders-db")
        assert status(managed, managed.failed)["rotation"] == "pending"
        no_value_in(managed, page)

        for bad in ("sec_nope", "proj_x", managed.vault.payments):
            missing = client.post(f"/managed/{bad}/retry", data={"csrf": csrf})
            assert missing.status_code == 404, (bad, missing.status_code)
        standard = client.post(f"/managed/{managed.vault.stripe}/rotate", data={"csrf": csrf})
        assert standard.status_code == 400 and "not a managed secret" in standard.text
    assert managed.vault.op.get(f"/v1/admin/secrets/{managed.vault.stripe}")["version"] == 2
    after = len([e for e in managed.vault.op.audit() if e["action"] == "rotation_retry"])
    assert after == before + 1
