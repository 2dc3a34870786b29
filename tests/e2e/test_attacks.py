"""Attacks on the machine plane, each against a live server on both stores.

Every test makes one hostile request and asserts three things: it is refused with
the right status and a `{"error": "…"}` body, the secret's value is not in the
answer, and the refusal left an audit entry saying why. Where it matters, the same
request is shown to succeed once the one thing under attack is put right, so a
test cannot pass merely because the request was broken in some other way.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Machine, Operator, Signed, register_machine, signed

VALUE = "sk_live_attack_target_0f9e8d"
OTHER_VALUE = "the-other-secret-value"


@dataclass
class World:
    live: LiveServer
    op: Operator
    project: str
    secret: str  # granted to `machine`
    ungranted: str  # same project, no grant
    elsewhere: str  # a project `machine` is not in
    elsewhere_secret: str
    machine: Machine

    def read(self, secret_id: str | None = None, machine: Machine | None = None) -> httpx.Response:
        return signed(
            self.live, machine or self.machine, "GET", f"/v1/secret/{secret_id or self.secret}"
        ).send()

    def mark(self) -> set[tuple[Any, Any]]:
        """The audit entries there are now: later checks look only at newer ones."""
        return {_key(e) for e in self.op.audit()}

    def audited_since(self, mark: set[tuple[Any, Any]]) -> list[dict[str, Any]]:
        return [e for e in self.op.audit() if _key(e) not in mark]


def _key(entry: dict[str, Any]) -> tuple[Any, Any]:
    return (entry.get("log"), entry["id"])


@pytest.fixture
def world(live: LiveServer) -> World:
    op = Operator(live)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", VALUE)
    ungranted = op.secret(project, "not-for-you", OTHER_VALUE)
    elsewhere = op.project("elsewhere")
    elsewhere_secret = op.secret(elsewhere, "far-away", OTHER_VALUE)
    machine = register_machine(live, op, "web-1", project_id=project, grants=(secret,))
    return World(live, op, project, secret, ungranted, elsewhere, elsewhere_secret, machine)


def assert_ok(response: httpx.Response, value: str = VALUE) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"value": value}


def assert_refused(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    for value in (VALUE, OTHER_VALUE):
        assert value not in response.text
    return dict(body)


def assert_audited(
    world: World,
    mark: set[tuple[Any, Any]],
    action: str,
    detail: str,
    *,
    machine_id: str | None = None,
    secret_id: str | None = None,
) -> dict[str, Any]:
    """An audit entry newer than `mark` with this action and detail (substring)."""
    deadline = time.monotonic() + 5  # the audit view may trail the answer slightly
    while True:
        entries = world.audited_since(mark)
        for entry in entries:
            if (
                entry["action"] == action
                and detail in (entry["detail"] or "")
                and (machine_id is None or entry["machineId"] == machine_id)
                and (secret_id is None or entry["secretId"] == secret_id)
            ):
                return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"no {action} audit entry with {detail!r} in {entries}")
        time.sleep(0.2)


def early_in_second() -> None:
    """Wait for the start of a wall-clock second, so a request signed now is checked
    by the server within the same second (no off-by-one at the window's edge)."""
    fraction = time.time() % 1
    if fraction > 0.3:
        time.sleep(1.02 - fraction)


# -- replay ----------------------------------------------------------------------


def test_replayed_request_is_refused(world: World) -> None:
    request = signed(world.live, world.machine, "GET", f"/v1/secret/{world.secret}")
    assert_ok(request.send())
    mark = world.mark()
    body = assert_refused(request.send(), 401)
    assert "replay" in body["error"].lower() or "nonce" in body["error"].lower()
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )


def test_replayed_post_is_refused(world: World) -> None:
    request = signed(
        world.live, world.machine, "POST", "/v1/secrets/export", {"projectId": world.project}
    )
    first = request.send()
    assert first.status_code == 200 and first.json()["secrets"][0]["value"] == VALUE
    mark = world.mark()
    assert_refused(request.send(), 401)
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )


def test_replay_after_a_server_restart_is_refused(world: World) -> None:
    request = signed(world.live, world.machine, "GET", f"/v1/secret/{world.secret}")
    assert_ok(request.send())
    world.live.stop()
    world.live.start()
    mark = world.mark()
    assert_refused(request.send(), 401)
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )
    assert_ok(world.read())  # the restarted server does serve fresh requests


@pytest.mark.parametrize("route", ["read", "listing"])
def test_concurrent_replays_succeed_exactly_once(world: World, route: str) -> None:
    path = f"/v1/secret/{world.secret}" if route == "read" else "/v1/secrets"
    request = signed(world.live, world.machine, "GET", path)
    mark = world.mark()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: request.send(), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 7, statuses
    for response in responses:
        if response.status_code == 401:
            assert_refused(response, 401)
    entries = world.audited_since(mark)
    replays = [e for e in entries if e["detail"] == "replayed nonce"]
    assert len(replays) == 7, entries


def test_replayed_read_of_a_missing_secret_is_refused(world: World) -> None:
    request = signed(world.live, world.machine, "GET", "/v1/secret/sk_0000000000")
    assert_refused(request.send(), 404)
    mark = world.mark()
    assert_refused(request.send(), 401)
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )


def test_read_refused_while_disabled_cannot_be_replayed_after_enable(world: World) -> None:
    world.op.disable(world.machine.machine_id)
    request = signed(world.live, world.machine, "GET", f"/v1/secret/{world.secret}")
    assert_refused(request.send(), 403)  # signature verified, machine refused
    world.op.enable(world.machine.machine_id)
    mark = world.mark()
    assert_refused(request.send(), 401)  # the same signed request, within its window
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )


def test_listing_refused_while_disabled_cannot_be_replayed_after_enable(world: World) -> None:
    world.op.disable(world.machine.machine_id)
    request = signed(world.live, world.machine, "GET", "/v1/secrets")
    assert_refused(request.send(), 403)
    world.op.enable(world.machine.machine_id)
    mark = world.mark()
    assert_refused(request.send(), 401)
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )


# -- the signature window and what the signature covers ---------------------------


def send_with_offset(world: World, offset: int) -> httpx.Response:
    """A read stamped `offset` seconds from now. A request 301 s ahead that is only
    checked in the next wall-clock second is legitimately 300 s ahead: such a try
    (slow server) is repeated, so only a same-second acceptance counts."""
    for _attempt in range(5):
        early_in_second()
        now = int(time.time())
        response = signed(
            world.live,
            world.machine,
            "GET",
            f"/v1/secret/{world.secret}",
            timestamp=now + offset,
        ).send()
        if response.status_code != 200 or offset < 0 or int(time.time()) == now:
            return response
    return response


@pytest.mark.parametrize("offset", [-301, 301], ids=["301s-old", "301s-ahead"])
def test_timestamp_outside_the_window_is_refused(world: World, offset: int) -> None:
    mark = world.mark()
    body = assert_refused(send_with_offset(world, offset), 401)
    assert "window" in body["error"]
    assert_audited(world, mark, "auth_failure", "timestamp")
    # Just inside the window is fine (same direction, 2 s less).
    assert_ok(send_with_offset(world, offset - 2 if offset > 0 else offset + 2))


def _alter_body(world: World) -> Callable[[Signed], None]:
    def tamper(request: Signed) -> None:
        request.body = request.body.replace(world.project.encode(), world.elsewhere.encode())

    return tamper


def _alter_path(world: World) -> Callable[[Signed], None]:
    def tamper(request: Signed) -> None:
        request.url = request.url.replace(world.secret, world.ungranted)

    return tamper


def _alter_method(world: World) -> Callable[[Signed], None]:
    def tamper(request: Signed) -> None:
        request.method = "GET"

    return tamper


def _add_query(world: World) -> Callable[[Signed], None]:
    def tamper(request: Signed) -> None:
        request.url += "?projectId=" + world.elsewhere

    return tamper


TAMPERS: dict[str, tuple[str, str, Callable[[World], Callable[[Signed], None]]]] = {
    # name: (signed method, signed path template, tamper)
    "body": ("POST", "/v1/secrets/list", _alter_body),
    "path": ("GET", "/v1/secret/{secret}", _alter_path),
    # Signed as a POST of the same path, sent as a GET.
    "method": ("POST", "/v1/secret/{secret}", _alter_method),
    "query": ("GET", "/v1/secrets", _add_query),
}


@pytest.mark.parametrize("part", list(TAMPERS))
def test_request_altered_after_signing_is_refused(world: World, part: str) -> None:
    method, template, make_tamper = TAMPERS[part]
    path = template.format(secret=world.secret)
    body = {"projectId": world.project} if method == "POST" and part == "body" else b""
    mark = world.mark()
    request = signed(world.live, world.machine, method, path, body, tamper=make_tamper(world))
    assert_refused(request.send(), 401)
    if part == "query":  # refused before the machine is even looked up
        assert_audited(world, mark, "auth_failure", "query string")
    else:
        assert_audited(
            world, mark, "auth_failure", "bad signature", machine_id=world.machine.machine_id
        )


def test_signature_by_another_machines_key_is_refused(world: World) -> None:
    other = register_machine(world.live, world.op, "web-2", project_id=world.project)
    mark = world.mark()
    request = signed(
        world.live, other, "GET", f"/v1/secret/{world.secret}", machine_id=world.machine.machine_id
    )
    assert_refused(request.send(), 401)
    assert_audited(
        world, mark, "auth_failure", "bad signature", machine_id=world.machine.machine_id
    )
    # A key nobody enrolled fares no better.
    mark = world.mark()
    stray = signed(
        world.live,
        world.machine,
        "GET",
        f"/v1/secret/{world.secret}",
        key=Ed25519PrivateKey.generate(),
    )
    assert_refused(stray.send(), 401)
    assert_audited(
        world, mark, "auth_failure", "bad signature", machine_id=world.machine.machine_id
    )


def test_small_order_public_key_cannot_forge_signatures(world: World) -> None:
    """Enroll the identity point as the public key, then present the signature that a
    lax verifier accepts for every message under it (R = identity, S = 0)."""
    identity_point = b"\x01" + b"\x00" * 31
    response = httpx.post(
        f"{world.live.url}/v1/bootstrap/register",
        json={
            "token": world.op.token(),
            "publicKey": base64.b64encode(identity_point).decode(),
            "hostname": "weak.internal",
            "name": "weak",
        },
        timeout=30,
    )
    if response.status_code != 201:  # refusing such a key outright is fine too
        assert_refused(response, 400)
        return
    weak_id = response.json()["machineId"]
    world.op.approve(weak_id)
    world.op.add_to_project(weak_id, world.project)
    world.op.grant(weak_id, world.secret)

    def forge(request: Signed) -> None:
        request.headers["X-Signature"] = base64.b64encode(identity_point + b"\x00" * 32).decode()

    mark = world.mark()
    forged = signed(
        world.live,
        world.machine,
        "GET",
        f"/v1/secret/{world.secret}",
        machine_id=weak_id,
        tamper=forge,
    )
    assert_refused(forged.send(), 401)
    assert_audited(world, mark, "auth_failure", "bad signature", machine_id=weak_id)


@pytest.mark.parametrize("claimed", ["uuid", "garbage"])
def test_unknown_machine_id_is_refused(world: World, claimed: str) -> None:
    machine_id = str(uuid.uuid4()) if claimed == "uuid" else "sk_0000000000"
    mark = world.mark()
    request = signed(
        world.live, world.machine, "GET", f"/v1/secret/{world.secret}", machine_id=machine_id
    )
    assert_refused(request.send(), 401)
    assert_audited(world, mark, "auth_failure", "unknown machine")


def test_missing_or_malformed_signature_headers_are_refused(world: World) -> None:
    for header in ("X-Machine-Id", "X-Timestamp", "X-Nonce", "X-Signature"):

        def drop(request: Signed, header: str = header) -> None:
            del request.headers[header]

        mark = world.mark()
        request = signed(
            world.live, world.machine, "GET", f"/v1/secret/{world.secret}", tamper=drop
        )
        assert_refused(request.send(), 401)
        assert_audited(world, mark, "auth_failure", "missing signature headers")

    def garble(request: Signed) -> None:
        request.headers["X-Signature"] = "not base64!"

    mark = world.mark()
    garbled = signed(world.live, world.machine, "GET", f"/v1/secret/{world.secret}", tamper=garble)
    assert_refused(garbled.send(), 401)
    assert_audited(world, mark, "auth_failure", "bad signature")


# -- machine state -----------------------------------------------------------------


def test_pending_machine_is_refused(world: World) -> None:
    pending = register_machine(world.live, world.op, "new-1", approve=False)
    # Give it everything but approval, so approval is the only thing missing.
    world.op.add_to_project(pending.machine_id, world.project)
    world.op.grant(pending.machine_id, world.secret)
    mark = world.mark()
    assert_refused(world.read(machine=pending), 403)
    assert_audited(world, mark, "auth_failure", "pending", machine_id=pending.machine_id)
    world.op.approve(pending.machine_id)
    assert_ok(world.read(machine=pending))


def test_disabled_machine_is_refused(world: World) -> None:
    assert_ok(world.read())
    world.op.disable(world.machine.machine_id)
    mark = world.mark()
    assert_refused(world.read(), 403)
    assert_audited(world, mark, "auth_failure", "disabled", machine_id=world.machine.machine_id)
    world.op.enable(world.machine.machine_id)
    assert_ok(world.read())


def test_denied_machine_is_refused(world: World) -> None:
    pending = register_machine(world.live, world.op, "new-2", approve=False)
    world.op.add_to_project(pending.machine_id, world.project)
    world.op.grant(pending.machine_id, world.secret)
    world.op.deny(pending.machine_id)
    mark = world.mark()
    assert_refused(world.read(machine=pending), (401, 403))
    assert_audited(world, mark, "auth_failure", "denied", machine_id=pending.machine_id)


def test_revoked_machine_is_refused(world: World) -> None:
    preview = world.op.revoke(world.machine.machine_id, preview=True)
    assert preview["preview"] is True
    assert (preview["grants"], preview["projects"]) == (1, 1)
    assert_ok(world.read())  # a preview revokes nothing
    world.op.revoke(world.machine.machine_id)
    mark = world.mark()
    assert_refused(world.read(), (401, 403))
    entry = assert_audited(world, mark, "auth_failure", "revoked")
    assert entry["machineId"] in (world.machine.machine_id, None)
    # Listing and export give nothing away either.
    for method, path in (("GET", "/v1/secrets"), ("POST", "/v1/secrets/export")):
        assert_refused(signed(world.live, world.machine, method, path).send(), (401, 403))


# -- per-secret checks -------------------------------------------------------------


def test_machine_not_in_project_is_refused(world: World) -> None:
    mark = world.mark()
    assert_refused(world.read(world.elsewhere_secret), 403)
    assert_audited(
        world,
        mark,
        "secret_read_denied",
        "not in project",
        machine_id=world.machine.machine_id,
        secret_id=world.elsewhere_secret,
    )


def test_removed_from_project_is_refused(world: World) -> None:
    assert_ok(world.read())
    world.op.remove_from_project(world.machine.machine_id, world.project)
    mark = world.mark()
    assert_refused(world.read(), 403)
    assert_audited(
        world,
        mark,
        "secret_read_denied",
        "",
        machine_id=world.machine.machine_id,
        secret_id=world.secret,
    )


def test_no_grant_is_refused(world: World) -> None:
    mark = world.mark()
    assert_refused(world.read(world.ungranted), 403)
    assert_audited(
        world,
        mark,
        "secret_read_denied",
        "no grant",
        machine_id=world.machine.machine_id,
        secret_id=world.ungranted,
    )
    # The listing and the export do not mention it.
    listing = signed(world.live, world.machine, "GET", "/v1/secrets").send().json()
    assert [s["id"] for s in listing["secrets"]] == [world.secret]
    export = signed(world.live, world.machine, "POST", "/v1/secrets/export").send()
    assert [s["id"] for s in export.json()["secrets"]] == [world.secret]
    assert OTHER_VALUE not in export.text


def test_grant_revoked_mid_session_is_refused(world: World) -> None:
    assert_ok(world.read())
    world.op.revoke_grant(world.machine.machine_id, world.secret)
    mark = world.mark()
    assert_refused(world.read(), 403)
    assert_audited(
        world,
        mark,
        "secret_read_denied",
        "no grant",
        machine_id=world.machine.machine_id,
        secret_id=world.secret,
    )


# -- network and server state ------------------------------------------------------


def test_ip_allowlist(world: World) -> None:
    assert_ok(world.read())
    world.op.allowlist(True)  # enabled and empty: no one
    mark = world.mark()
    assert assert_refused(world.read(), 403) == {"error": "Access denied"}
    assert_audited(world, mark, "auth_failure", "allowlist")

    world.op.allow("10.0.0.0/8", "office")
    mark = world.mark()
    assert assert_refused(world.read(), 403) == {"error": "Access denied"}
    assert_audited(world, mark, "auth_failure", "allowlist")

    world.op.allow("127.0.0.1/32", "this host")
    assert_ok(world.read())


def test_sealed_server_answers_503(world: World) -> None:
    assert_ok(world.read())
    mark = world.mark()
    world.op.seal()
    assert_refused(world.read(), 503)
    assert_refused(signed(world.live, world.machine, "GET", "/v1/secrets").send(), 503)
    assert_audited(world, mark, "server_seal", "")
    world.op.unseal()
    assert_ok(world.read())


def test_successful_reads_are_audited(world: World) -> None:
    mark = world.mark()
    assert_ok(world.read())
    entry = assert_audited(
        world,
        mark,
        "secret_read",
        "",
        machine_id=world.machine.machine_id,
        secret_id=world.secret,
    )
    assert entry["sourceIp"] == "127.0.0.1"
