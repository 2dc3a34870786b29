"""Email alerts against a live server, embedded and distributed (`keyledger worker` on
Redis), with a real SMTP server (aiosmtpd) that the test reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import ApiError

from tests.e2e.conftest import free_port
from tests.e2e.machine_helpers import register_machine
from tests.e2e.outreach_world import MODES, World, outreach_world
from tests.smtp_receiver import SmtpServer
from tests.webhook_receiver import wait_for


@pytest.fixture(scope="module", params=MODES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from outreach_world(request.param, tmp_path_factory)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


def _json(world: World, *args: str, stdin: str | None = None) -> Any:
    return json.loads(world.live.ok(*args, "--json", stdin=stdin).stdout)


def _configure(world: World, smtp: SmtpServer, port: int | None = None) -> Any:
    return _json(
        world, "alerts", "smtp", "--host", "127.0.0.1", "--port", str(port or smtp.port),
        "--from", "keyledger@example.com", "--to", "ops@example.com",
        "--user", smtp.user, "--password-stdin", stdin=smtp.password,
    )  # fmt: skip


def _mail_for(smtp: SmtpServer, title: str) -> Any:
    return wait_for(
        lambda: [m for m in smtp.sink.messages if title in str(m["Subject"])], what=title
    )[0]


def test_one_mail_per_event_with_audit_fields_never_a_value(world: World, smtp: SmtpServer) -> None:
    status = _configure(world, smtp)
    assert status["smtp"]["host"] == "127.0.0.1" and status["passwordSet"] is True
    assert smtp.password not in json.dumps(status)  # write-only
    chosen = _json(world, "alerts", "set", "--actions", "secret_delete,secret_read_denied")
    assert chosen["enabledActions"] == ["secret_delete", "secret_read_denied"]

    doomed = world.op.secret(world.project_id, "mailed", "value-never-mailed-1")
    kept = world.op.secret(world.project_id, "guarded", "value-never-mailed-2")
    world.op.delete(doomed)
    mail = _mail_for(smtp, "Secret Delete")
    assert str(mail["Subject"]) == "[keyledger] Secret Delete (high)"
    assert str(mail["To"]) == "ops@example.com" and "keyledger@example.com" in str(mail["From"])
    text = mail.get_content()
    assert f"Secret ID:  {doomed}" in text and "Severity:   high" in text
    assert "Source IP:  127.0.0.1" in text and "UTC" in text

    machine = register_machine(world.live, world.op, "curious", project_id=world.project_id)
    with pytest.raises(ApiError):
        SikkerKey(str(machine.identity_path)).get_secret(kept)
    mail = _mail_for(smtp, "Secret Read Denied")
    text = mail.get_content()
    assert f"Machine ID: {machine.machine_id}" in text and f"Secret ID:  {kept}" in text
    assert "Severity:   medium" in text
    for envelope in smtp.sink.envelopes:
        assert b"value-never-mailed" not in envelope.content
    assert len([s for s in smtp.subjects() if "Secret Delete" in s]) == 1  # one per event
    status = wait_for(
        lambda: (
            (s := _json(world, "alerts", "status"))["recent"]
            and all(m["state"] == "delivered" for m in s["recent"])
            and s
        ),
        what="delivered status",
    )
    assert status["failures"] == []

    sample = _json(world, "alerts", "test")
    assert sample["sent"] is True
    _mail_for(smtp, "Alert Test")
    actions = [e["action"] for e in world.op.audit()]
    for action in ("alert_smtp_update", "alert_settings_update", "alert_test"):
        assert action in actions


def test_failures_are_visible_in_status(world: World, smtp: SmtpServer) -> None:
    closed = free_port()  # nothing listens here
    _configure(world, smtp, port=closed)
    _json(world, "alerts", "set", "--actions", "secret_delete")
    world.op.delete(world.op.secret(world.project_id, "unmailed", "v"))
    status = wait_for(
        lambda: (s := _json(world, "alerts", "status"))["failures"] and s, what="failure"
    )
    assert "SMTP" in status["failures"][0]["lastError"]
    assert status["failures"][0]["action"] == "secret_delete"
    failed = world.live.cli("alerts", "test")
    assert failed.code == 1 and "not sent" in failed.stderr
    wait_for(
        lambda: any(m["state"] == "failed" for m in _json(world, "alerts", "status")["recent"]),
        what="gave up after the retries",
    )


def test_by_severity_and_bad_input_saves_nothing(world: World, smtp: SmtpServer) -> None:
    listed = {a["action"]: a for a in _json(world, "alerts", "actions")}
    assert listed["auth_failure"] == {
        "action": "auth_failure",
        "name": "Auth Failure",
        "severity": "medium",
        "category": "Authentication",
    }
    critical_high = _json(world, "alerts", "set", "--all-critical", "--all-high")
    wanted = {a for a, e in listed.items() if e["severity"] in ("critical", "high")}
    assert set(critical_high["enabledActions"]) == wanted and "secret_delete" in wanted
    _configure(world, smtp)
    before = _json(world, "alerts", "status")

    unknown = world.live.cli("alerts", "set", "--actions", "secret_delete,no_such_action")
    assert unknown.code == 1 and "no_such_action" in unknown.stderr
    far = world.live.cli(
        "alerts", "smtp", "--host", "127.0.0.1", "--port", "70000",
        "--from", "a@example.com", "--to", "ops@example.com",
    )  # fmt: skip
    assert far.code == 1 and "port" in far.stderr
    answer = world.op.http.post(
        "/v1/admin/alerts/smtp",
        json={"host": "127.0.0.1", "port": 0, "from": "a@example.com", "to": ["o@example.com"]},
    )
    assert answer.status_code == 400 and "port" in answer.json()["error"]
    answer = world.op.http.post("/v1/admin/alerts", json={"enabledActions": ["nope_nope"]})
    assert answer.status_code == 400 and "nope_nope" in answer.json()["error"]
    after = _json(world, "alerts", "status")
    assert after["enabledActions"] == before["enabledActions"] and after["smtp"] == before["smtp"]

    emptied = _json(world, "alerts", "set", "--actions", "")
    assert emptied["enabledActions"] == []  # the whole set is replaced: none
