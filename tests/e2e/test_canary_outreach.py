"""The tripwire end to end: the official SDK reads a canary, keeps the value, and the
operator hears of it by email (aiosmtpd) and by a signed webhook, in embedded mode and
with a real `keyledger worker` on Redis. The two halves of issue 11 meet here: the
trip is recorded by the read path and picked up by the outbox follower."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import ApiError

from tests.e2e.machine_helpers import register_machine
from tests.e2e.outreach_world import MODES, World, outreach_world
from tests.smtp_receiver import SmtpServer
from tests.webhook_receiver import Receiver, wait_for

REAL = "sk_live_real-value-never-sent-9"


@pytest.fixture(scope="module", params=MODES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from outreach_world(request.param, tmp_path_factory)


def _json(world: World, *args: str, stdin: str | None = None) -> Any:
    return json.loads(world.live.ok(*args, "--json", stdin=stdin).stdout)


def test_a_tripped_canary_freezes_mails_and_posts_a_signed_webhook(world: World) -> None:
    smtp, receiver = SmtpServer(), Receiver()
    try:
        _json(
            world, "alerts", "smtp", "--host", "127.0.0.1", "--port", str(smtp.port),
            "--from", "keyledger@example.com", "--to", "ops@example.com",
            "--user", smtp.user, "--password-stdin", stdin=smtp.password,
        )  # fmt: skip
        _json(world, "alerts", "set", "--all-critical")
        hook = _json(world, "webhook", "add", receiver.url, "--actions", "canary_triggered")

        real = world.op.secret(world.project_id, "stripe-key", REAL)
        canary = _json(
            world, "canary", "create", "--project", world.project_id, "--name", "aws-root-key"
        )["id"]
        machine = register_machine(
            world.live, world.op, "intruder", project_id=world.project_id, grants=(real,)
        )
        world.op.grant(machine.machine_id, canary)
        sdk = SikkerKey(str(machine.identity_path))

        bait = sdk.get_secret(canary)  # the intruder gets the value...
        assert len(bait) == 64
        with pytest.raises(ApiError) as refused:  # ...and the project is frozen behind it
            sdk.get_secret(real)
        assert refused.value.http_status == 423

        post = wait_for(lambda: receiver.for_event("canary_triggered"), what="webhook")[0]
        stamp = post.headers["x-keyledger-timestamp"]
        mac = hmac.new(hook["signingSecret"].encode(), f"{stamp}.".encode() + post.body, "sha256")
        assert hmac.compare_digest(post.headers["x-keyledger-signature"], mac.hexdigest())
        body = json.loads(post.body)
        assert body["event"] == "canary_triggered" and body["severity"] == "critical"
        assert body["data"]["machineId"] == machine.machine_id
        assert body["data"]["secretId"] == canary

        mail = wait_for(
            lambda: [m for m in smtp.sink.messages if "Canary" in str(m["Subject"])],
            what="canary mail",
        )[0]
        assert "(critical)" in str(mail["Subject"])
        text = mail.get_content()
        assert f"Machine ID: {machine.machine_id}" in text and f"Secret ID:  {canary}" in text

        # No value in any mail or post: neither the bait nor the real secret.
        sent = b"".join(e.content for e in smtp.sink.envelopes) + b"".join(
            r.body for r in receiver.requests
        )
        assert bait.encode() not in sent and REAL.encode() not in sent
        assert hashlib.sha256(bait.encode()).hexdigest().encode() not in sent
    finally:
        receiver.close()
        smtp.stop()
