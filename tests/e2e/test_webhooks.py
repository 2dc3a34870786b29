"""Webhooks against a live server, embedded and distributed (`keyledger worker` on Redis):
signed deliveries of ledger and access events, auto-disable after 10 failures, a
delivery that survives a SIGKILLed deliverer with the same id, and refused input."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import ApiError

from tests.e2e.machine_helpers import register_machine
from tests.e2e.outreach_world import MODES, World, outreach_world
from tests.webhook_receiver import Receiver, wait_for


@pytest.fixture(scope="module", params=MODES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from outreach_world(request.param, tmp_path_factory)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _json(world: World, *args: str) -> Any:
    return json.loads(world.live.ok(*args, "--json").stdout)


def _add(world: World, receiver: Receiver, actions: str) -> dict[str, Any]:
    return dict(_json(world, "webhook", "add", receiver.url, "--actions", actions))


def _check_signed(received: Any, secret: str, event: str) -> dict[str, Any]:
    headers = received.headers
    stamp = headers["x-keyledger-timestamp"]
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + received.body, hashlib.sha256)
    assert hmac.compare_digest(headers["x-keyledger-signature"], expected.hexdigest())
    assert abs(int(stamp) - time.time() * 1000) < 120_000  # milliseconds, now
    assert headers["x-keyledger-event"] == event
    assert headers["user-agent"].startswith("keyledger-webhook/")
    assert headers["content-type"] == "application/json"
    delivery_id = headers["x-keyledger-delivery-id"]
    assert str(uuid.UUID(delivery_id)) == delivery_id
    body = json.loads(received.body)
    assert set(body) == {"id", "event", "severity", "timestamp", "data"}
    assert set(body["data"]) == {"userId", "machineId", "secretId", "sourceIp", "detail"}
    assert body["id"] == delivery_id and body["event"] == event
    return dict(body)


def test_signed_deliveries_of_vault_and_access_events(world: World, receiver: Receiver) -> None:
    created = _add(world, receiver, "secret_delete,secret_read_denied")
    assert created["id"].startswith("wh_") and created["enabled"] is True
    secret = created["signingSecret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    shown = _json(world, "webhook", "show", created["id"])
    assert "signingSecret" not in shown and secret not in json.dumps(shown)  # shown once

    doomed = world.op.secret(world.project_id, "doomed", "value-never-sent-1")
    kept = world.op.secret(world.project_id, "kept", "value-never-sent-2")
    world.op.delete(doomed)
    got = wait_for(lambda: receiver.for_event("secret_delete"), what="secret_delete webhook")
    body = _check_signed(got[0], secret, "secret_delete")
    assert body["severity"] == "high" and body["data"]["secretId"] == doomed
    assert b"value-never-sent" not in got[0].body

    # An access-log record: a machine in the project, not granted the secret.
    machine = register_machine(world.live, world.op, "nosy", project_id=world.project_id)
    with pytest.raises(ApiError) as denied:
        SikkerKey(str(machine.identity_path)).get_secret(kept)
    assert denied.value.http_status == 403
    got = wait_for(lambda: receiver.for_event("secret_read_denied"), what="denied webhook")
    body = _check_signed(got[0], secret, "secret_read_denied")
    assert body["data"]["machineId"] == machine.machine_id and body["data"]["secretId"] == kept
    assert body["severity"] == "medium"

    health = wait_for(
        lambda: (h := _json(world, "webhook", "show", created["id"]))["lastDeliveredAt"] and h,
        what="health",
    )
    assert health["consecutiveFailures"] == 0 and health["lastError"] is None
    assert len(receiver.for_event("secret_delete")) == 1  # once, not per tick

    sample = _json(world, "webhook", "test", created["id"])
    assert sample["delivered"] is True
    _check_signed(receiver.for_event("webhook_test")[0], secret, "webhook_test")
    listed = _json(world, "webhook", "list")
    assert created["id"] in [w["id"] for w in listed]
    actions = [e["action"] for e in world.op.audit()]
    assert "webhook_create" in actions and "webhook_test" in actions
    _json(world, "webhook", "remove", created["id"])


def test_ten_failures_disable_the_webhook_and_enable_resets(
    world: World, receiver: Receiver
) -> None:
    receiver.status = 500
    created = _add(world, receiver, "secret_delete")
    world.op.delete(world.op.secret(world.project_id, "flaky", "v"))
    off = wait_for(
        lambda: not (h := _json(world, "webhook", "show", created["id"]))["enabled"] and h,
        timeout=90,
        what="auto-disable",
    )
    assert off["consecutiveFailures"] == 10 and off["lastError"] == "HTTP 500"
    assert off["lastFailedAt"] is not None
    tries = receiver.for_event("secret_delete")
    assert len(tries) == 10
    ids = {r.headers["x-keyledger-delivery-id"] for r in tries}
    assert len(ids) == 1 and len({r.body for r in tries}) == 1  # the same delivery re-sent
    time.sleep(1.5)
    assert len(receiver.for_event("secret_delete")) == 10  # nothing more while disabled
    audit = [
        e
        for e in world.op.audit()
        if e["action"] == "webhook_auto_disable" and created["id"] in e["detail"]
    ]
    assert len(audit) == 1 and audit[0]["severity"] == "high" and "HTTP 500" in audit[0]["detail"]

    receiver.status = 200
    on = _json(world, "webhook", "enable", created["id"])
    assert on["enabled"] is True and on["consecutiveFailures"] == 0 and on["lastError"] is None
    wait_for(lambda: len(receiver.for_event("secret_delete")) == 11, what="held delivery")
    assert receiver.for_event("secret_delete")[-1].headers["x-keyledger-delivery-id"] in ids
    _json(world, "webhook", "disable", created["id"])
    assert _json(world, "webhook", "remove", created["id"])["removed"] is True
    assert world.live.cli("webhook", "show", created["id"]).code == 1


def test_a_killed_deliverer_delivers_after_restart_with_the_same_id(world: World) -> None:
    receiver = Receiver(hang_first=True)
    try:
        created = _add(world, receiver, "secret_delete")
        world.op.delete(world.op.secret(world.project_id, "mid-flight", "v"))
        assert receiver.hung.wait(30), "the delivery never started"
        first = receiver.requests[0]
        world.kill_deliverer()  # SIGKILL while the POST is in flight
        world.restart_deliverer()
        again = wait_for(lambda: receiver.requests[1:], timeout=60, what="re-delivery")
        assert (
            again[0].headers["x-keyledger-delivery-id"] == first.headers["x-keyledger-delivery-id"]
        )
        assert again[0].body == first.body
        _check_signed(again[0], created["signingSecret"], "secret_delete")
        wait_for(
            lambda: _json(world, "webhook", "show", created["id"])["lastDeliveredAt"],
            what="delivered",
        )
        _json(world, "webhook", "remove", created["id"])
    finally:
        receiver.close()


def test_refused_urls_and_actions_save_nothing(world: World) -> None:
    before = _json(world, "webhook", "list")
    for url in (
        "http://example.com/hook",  # plain http off loopback
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://example.com/" + "a" * 2048,
    ):
        refused = world.live.cli("webhook", "add", url, "--actions", "secret_delete")
        assert refused.code == 1, url
    unknown = world.live.cli("webhook", "add", "http://127.0.0.1:9/x", "--actions", "no_such")
    assert unknown.code == 1 and "no_such" in unknown.stderr
    answer = world.op.http.post(
        "/v1/admin/webhooks", json={"url": "https://10.1.1.1/", "actions": ["auth_failure"]}
    )
    assert answer.status_code == 400 and "private" in answer.json()["error"]
    missing = world.op.http.get("/v1/admin/webhooks/wh_0000000000")
    assert missing.status_code == 404 and "error" in missing.json()
    assert _json(world, "webhook", "list") == before
    assert httpx.get(world.live.url + "/v1/admin/webhooks").status_code == 401
