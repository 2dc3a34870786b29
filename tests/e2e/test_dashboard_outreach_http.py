"""The dashboard's alert, webhook and canary forms over plain HTTP on both stores: each
saves through the same service as the operator API, a bad form re-renders its page with
the error and saves nothing, a form without the CSRF token is refused (403), a webhook's
signing secret appears once, and no password, signing secret or value leaks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from domain.auditcatalogue import CATALOGUE
from tests.e2e.conftest import STORES, free_port, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed

SMTP_PASSWORD = "smtp-DASHBOARD-pw-0b7d1e55"
BAD_CSRF: tuple[dict[str, str], ...] = ({}, {"csrf": "0" * 64}, {"csrf": ""})


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that takes every delivery."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module", params=STORES)
def vault(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    with ExitStack() as stack:
        live = module_server(
            stack, request.param, tmp_path_factory, KEYLEDGER_ALLOW_LOOPBACK_WEBHOOKS="1"
        )
        live.start()
        seeded = seed(live)
        stack.callback(seeded.op.close)
        yield seeded


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def alerts(v: Seeded) -> dict[str, Any]:
    found: dict[str, Any] = v.op.get("/v1/admin/alerts")
    return found


def hooks(v: Seeded) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = v.op.get("/v1/admin/webhooks")["webhooks"]
    return found


def no_value_in(html: str, *more: str) -> None:
    for value in (*VALUES, SMTP_PASSWORD, *more):
        assert value not in html


def test_alert_actions_are_replaced_whole_and_a_bad_form_saves_nothing(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        csrf = csrf_of(client.get("/alerts").text)
        for form in BAD_CSRF:
            refused = client.post("/alerts/actions", data={**form, "actions": "canary_triggered"})
            assert refused.status_code == 403
        assert alerts(vault)["enabledActions"] == []

        forged = client.post("/alerts/actions", data={"csrf": csrf, "actions": ["nope"]})
        assert forged.status_code == 400 and "Unknown audit action(s): nope" in forged.text
        assert "Nothing was saved" in forged.text and alerts(vault)["enabledActions"] == []

        chosen = ["canary_triggered", "project_freeze"]
        saved = client.post("/alerts/actions", data={"csrf": csrf, "actions": chosen})
        assert saved.headers["location"] == "/alerts?done=alerts-saved"
        assert alerts(vault)["enabledActions"] == chosen
        page = client.get(saved.headers["location"]).text
        assert "Alert actions saved." in page
        assert page.count("checked>") == 2  # the saved ones are ticked, nothing else

        for preset, wanted in (("critical", {"critical"}), ("critical-high", {"critical", "high"})):
            chose = client.post("/alerts/actions", data={"csrf": csrf, "preset": preset})
            assert chose.status_code == 303
            every = sorted(e.action for e in CATALOGUE if e.severity.value in wanted)
            assert alerts(vault)["enabledActions"] == every
        odd = client.post("/alerts/actions", data={"csrf": csrf, "preset": "everything"})
        assert odd.status_code == 400 and len(alerts(vault)["enabledActions"]) == len(every)

        cleared = client.post("/alerts/actions", data={"csrf": csrf})  # nothing ticked
        assert cleared.status_code == 303 and alerts(vault)["enabledActions"] == []


def test_smtp_settings_validate_and_the_password_is_never_shown(vault: Seeded) -> None:
    good = {
        "host": "smtp.example.org",
        "port": "587",
        "security": "starttls",
        "from": "vault@example.org",
        "to": "ops@example.org, oncall@example.org",
        "user": "vault",
        "password": SMTP_PASSWORD,
    }
    with logged_in(vault.live) as client:
        csrf = csrf_of(client.get("/alerts").text)
        refused = client.post("/alerts/smtp", data=good)
        assert refused.status_code == 403 and alerts(vault)["smtp"] is None
        for field, bad, message in (
            ("port", "99999", "SMTP port must be between 1 and 65535"),
            ("port", "x", "SMTP port must be between 1 and 65535"),
            ("to", "not-an-address", "A recipient is not an email address"),
            ("security", "ssl3", "SMTP security must be one of"),
        ):
            shown = client.post("/alerts/smtp", data={**good, "csrf": csrf, field: bad})
            assert shown.status_code == 400 and message in shown.text, (field, shown.text[-500:])
            assert 'value="smtp.example.org"' in shown.text  # what was typed comes back…
            no_value_in(shown.text)  # …never the password
        assert alerts(vault)["smtp"] is None

        saved = client.post("/alerts/smtp", data={**good, "csrf": csrf})
        assert saved.headers["location"] == "/alerts?done=smtp-saved"
        status = alerts(vault)
        assert status["smtp"]["to"] == ["ops@example.org", "oncall@example.org"]
        assert status["passwordSet"]
        page = client.get(saved.headers["location"]).text
        assert "smtp.example.org:587 (starttls)" in page and "SMTP server saved." in page
        no_value_in(page)

        kept = client.post("/alerts/smtp", data={**good, "csrf": csrf, "password": ""})
        assert kept.status_code == 303 and alerts(vault)["passwordSet"]  # blank keeps it
        form = {**good, "csrf": csrf, "password": "", "clear_password": "1"}
        assert client.post("/alerts/smtp", data=form).status_code == 303
        assert not alerts(vault)["passwordSet"]


def test_webhooks_add_once_shown_secret_test_disable_enable_delete(
    vault: Seeded, receiver: str
) -> None:
    with logged_in(vault.live) as client:
        csrf = csrf_of(client.get("/alerts").text)
        form = {"url": receiver, "actions": ["canary_triggered", "rotation_failed"]}
        assert client.post("/alerts/webhooks", data=form).status_code == 403
        no_actions = client.post("/alerts/webhooks", data={"csrf": csrf, "url": receiver})
        assert no_actions.status_code == 400 and "at least one action" in no_actions.text
        assert f'value="{receiver}"' in no_actions.text
        bad_url = client.post("/alerts/webhooks", data={**form, "csrf": csrf, "url": "ftp://x"})
        assert bad_url.status_code == 400 and "must be https://" in bad_url.text
        assert 'value="canary_triggered" checked' in bad_url.text  # the ticks survive
        assert hooks(vault) == []

        created = client.post("/alerts/webhooks", data={**form, "csrf": csrf})
        assert created.status_code == 200 and "shown only on this page" in created.text
        secret = created.text.split("<code>whsec_", 1)[1].split("</code>", 1)[0]
        secret = "whsec_" + secret
        assert len(secret) > 30
        (hook,) = hooks(vault)
        assert hook["url"] == receiver and hook["actions"] == form["actions"]
        page = client.get("/alerts").text
        assert receiver in page and "Healthy" in page
        no_value_in(page, secret)

        base = f"/alerts/webhooks/{hook['id']}"
        for verb in ("test", "disable", "enable", "delete"):
            for bad in BAD_CSRF:
                assert client.post(f"{base}/{verb}", data=bad).status_code == 403
        assert hooks(vault)[0]["enabled"]

        tested = client.post(f"{base}/test", data={"csrf": csrf})
        assert tested.headers["location"] == "/alerts?done=webhook-test", tested.text[-500:]
        assert client.post(f"{base}/disable", data={"csrf": csrf}).status_code == 303
        assert not hooks(vault)[0]["enabled"] and "Disabled" in client.get("/alerts").text
        assert client.post(f"{base}/enable", data={"csrf": csrf}).status_code == 303
        assert hooks(vault)[0]["enabled"]
        assert client.post(f"{base}/rename", data={"csrf": csrf}).status_code == 404
        assert client.post(f"{base}/delete", data={"csrf": csrf}).status_code == 303
        assert hooks(vault) == []
        page = client.get("/alerts?done=webhook-delete").text
        assert "Webhook deleted." in page and receiver not in page
        missing = client.post(f"{base}/delete", data={"csrf": csrf})
        assert missing.status_code == 400 and "not found" in missing.text
        no_value_in(page, secret)
    actions = [e["action"] for e in vault.op.audit()]
    for action in ("webhook_create", "webhook_test", "webhook_disable", "webhook_delete"):
        assert action in actions


def canaries(v: Seeded) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = v.op.get("/v1/admin/canaries")["canaries"]
    return found


def test_canaries_are_planted_armed_and_disarmed_from_the_page(vault: Seeded) -> None:
    form = {"project_id": vault.payments, "name": "aws-root-key", "armed": "1"}
    with logged_in(vault.live) as client:
        csrf = csrf_of(client.get("/canaries").text)
        assert client.post("/canaries", data=form).status_code == 403
        blank = client.post("/canaries", data={**form, "csrf": csrf, "name": ""})
        assert blank.status_code == 400 and "Nothing was saved" in blank.text
        nowhere = client.post("/canaries", data={**form, "csrf": csrf, "project_id": "proj_0"})
        assert nowhere.status_code == 400
        assert canaries(vault) == []

        planted = client.post("/canaries", data={**form, "csrf": csrf})
        assert planted.headers["location"] == "/canaries?done=canary-created"
        (canary,) = canaries(vault)
        assert canary["enabled"] and not canary["triggerFreezeProject"]  # box left unticked
        assert not canary["triggerFreezeRelatedProjects"]
        page = client.get("/canaries").text
        assert "Armed" in page and "Disarm aws-root-key" in page

        base = f"/canaries/{canary['id']}"
        for bad in BAD_CSRF:
            assert client.post(f"{base}/disarm", data=bad).status_code == 403
        assert canaries(vault)[0]["enabled"]
        assert client.post(f"{base}/disarm", data={"csrf": csrf}).status_code == 303
        assert not canaries(vault)[0]["enabled"]
        assert "Arm aws-root-key" in client.get("/canaries").text
        assert client.post(f"{base}/arm", data={"csrf": csrf}).status_code == 303
        assert canaries(vault)[0]["enabled"]
        not_canary = client.post(f"/canaries/{vault.stripe}/arm", data={"csrf": csrf})
        assert not_canary.status_code == 400 and "not found" in not_canary.text
        no_value_in(client.get("/canaries").text)
    actions = [e["action"] for e in vault.op.audit()]
    assert "canary_disarm" in actions and "canary_arm" in actions


def test_every_new_page_without_a_session_goes_to_the_login_form(vault: Seeded) -> None:
    with httpx.Client(base_url=vault.live.url) as anonymous:
        for path in ("/managed", "/alerts", "/canaries"):
            assert anonymous.get(path).headers["location"] == "/login"
        for path in ("/alerts/actions", "/alerts/smtp", "/alerts/webhooks", "/canaries"):
            assert anonymous.post(path, data={"csrf": "x"}).headers["location"] == "/login"
