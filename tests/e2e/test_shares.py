"""Share links against a live server, on both stores.

The operator creates a share with the CLI (`--json`); a recipient opens it once with
the passphrase over `POST /v1/share/{id}`; a wrong passphrase destroys it; the
sweeper expires a lapsed one; two recipients at once get one value between them;
a signed machine is refused; the recipient endpoint is throttled per source. Each
test talks from a loopback address of its own (127.0.0.N), so the per-source
throttle of one test never meets another's. The value never reaches an event or the log.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from domain.errors import Gone
from interfaces.bootstrap import build_shares, build_store
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Operator, register_machine, signed
from tests.e2e.test_walkthrough import stored_event_bytes

VALUES: list[str] = []  # every value shared here: none may be in an event or the log
_SOURCES = iter(range(2, 250))


@dataclass
class Later:
    """A clock a minute or more ahead of the server's."""

    ms: int

    def now_ms(self) -> int:
        return self.ms


@dataclass
class Server:
    live: LiveServer
    op: Operator


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        yield Server(live, op)


def recipient() -> httpx.Client:
    """A client at a loopback address of its own: a fresh source for the throttle."""
    address = f"127.0.0.{next(_SOURCES)}"
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def create(live: LiveServer, name: str = "vendor db creds", expires: str = "5m") -> dict[str, Any]:
    value = "pw-" + secrets.token_urlsafe(24)
    VALUES.append(value)
    created = live.ok(
        "share",
        "create",
        "--name",
        name,
        "--value-stdin",
        "--expires-in",
        expires,
        "--json",
        stdin=value,
    ).json()
    return {**created, "value": value}


def open_share(client: httpx.Client, live: LiveServer, share_id: str, passphrase: str) -> Any:
    return client.post(f"{live.url}/v1/share/{share_id}", json={"passphrase": passphrase})


def status(op: Operator, share_id: str) -> str:
    listed = {s["id"]: s for s in op.get("/v1/admin/shares")["shares"]}
    return str(listed[share_id]["status"])


def actions(op: Operator, share_id: str) -> list[str]:
    return [e["action"] for e in op.audit(1000) if share_id in e.get("detail", "")]


def test_create_shows_the_link_and_passphrase_once_and_opens_once(server: Server) -> None:
    live, op = server.live, server.op
    share = create(live)
    assert set(share) == {"id", "url", "passphrase", "expiresAt", "value"}
    assert share["url"] == f"{live.url}/share/{share['id']}"
    listed = live.ok("share", "list", "--json").json()
    mine = next(s for s in listed if s["id"] == share["id"])
    assert mine["status"] == "pending" and "passphrase" not in mine and "value" not in mine
    with recipient() as client:
        first = open_share(client, live, share["id"], share["passphrase"])
        assert first.status_code == 200 and first.json() == {"value": share["value"]}
        assert first.headers["cache-control"] == "no-store"
        again = open_share(client, live, share["id"], share["passphrase"])
        assert again.status_code == 410 and share["value"] not in again.text
    assert status(op, share["id"]) == "viewed"
    assert actions(op, share["id"]) == ["share_create", "share_view"]


def test_a_wrong_passphrase_destroys_the_share(server: Server) -> None:
    live, op = server.live, server.op
    share = create(live)
    with recipient() as client:
        wrong = open_share(client, live, share["id"], "not-the-passphrase")
        assert wrong.status_code == 403 and "destroyed" in wrong.json()["error"]
        right = open_share(client, live, share["id"], share["passphrase"])
        assert right.status_code == 410 and share["value"] not in right.text
    assert status(op, share["id"]) == "destroyed"
    assert "share_destroy" in actions(op, share["id"])


def test_the_operator_destroys_a_share(server: Server) -> None:
    live, op = server.live, server.op
    share = create(live)
    destroyed = live.ok("share", "destroy", share["id"], "--json").json()
    assert destroyed["status"] == "destroyed"
    assert live.cli("share", "destroy", share["id"]).code != 0  # already over
    with recipient() as client:
        assert open_share(client, live, share["id"], share["passphrase"]).status_code == 410
    assert actions(op, share["id"]) == ["share_create", "share_destroy"]


def test_the_sweeper_expires_a_lapsed_share(server: Server) -> None:
    """A 1-minute share, and the sweeper run as the scheduler runs it, a minute later."""
    live, op = server.live, server.op
    share = create(live, expires="1m")
    keep = create(live, expires="10m")
    ledger, _, projector, clock = build_store(live.settings)
    try:
        desk = build_shares(live.settings, ledger, projector, clock)
        later = clock.now_ms() + 61_000
        assert share["id"] in desk.expire_due(later)
        assert keep["id"] not in desk.expire_due(later)
        assert desk.expire_due(later) == []  # once only
        lapsed = create(live, expires="1m")
        desk.clock = Later(clock.now_ms() + 61_000)  # a visitor comes before the sweep
        listed = {s["id"]: s["status"] for s in desk.listing()}
        assert listed[lapsed["id"]] == "expired" and listed[keep["id"]] == "pending"
        with pytest.raises(Gone):
            desk.open(lapsed["id"], lapsed["passphrase"], "127.0.0.1")
    finally:
        ledger.close()
        projector.engine.dispose()
    assert status(op, share["id"]) == "expired" and status(op, keep["id"]) == "pending"
    assert status(op, lapsed["id"]) == "expired" and "share_expire" in actions(op, lapsed["id"])
    assert "share_expire" in actions(op, share["id"])
    with recipient() as client:
        assert open_share(client, live, share["id"], share["passphrase"]).status_code == 410
        assert open_share(client, live, keep["id"], keep["passphrase"]).status_code == 200


def test_two_recipients_at_once_one_sees_the_value(server: Server) -> None:
    live, op = server.live, server.op
    for _ in range(3):
        share = create(live)
        results: list[httpx.Response] = []
        start = threading.Barrier(6)

        def race(share: dict[str, Any] = share) -> None:
            with recipient() as client:
                start.wait()
                results.append(open_share(client, live, share["id"], share["passphrase"]))

        threads = [threading.Thread(target=race) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 410, 410, 410, 410, 410], [r.text for r in results]
        assert [r.json() for r in results if r.status_code == 200] == [{"value": share["value"]}]
        assert actions(op, share["id"]).count("share_view") == 1


def test_a_machine_can_never_read_a_share(server: Server) -> None:
    live, op = server.live, server.op
    share = create(live)
    project = op.project("share-machines")
    machine = register_machine(live, op, "curious", project_id=project)
    body = {"passphrase": share["passphrase"]}
    refused = signed(live, machine, "POST", f"/v1/share/{share['id']}", body).send()
    assert refused.status_code == 403 and share["value"] not in refused.text
    assert status(op, share["id"]) == "pending"  # untouched: not even destroyed


def test_the_recipient_endpoint_is_rate_limited_per_source(server: Server) -> None:
    live = server.live
    with recipient() as client:
        codes = [
            open_share(client, live, "shr_" + "x" * 10, "guess").status_code for _ in range(10)
        ]
        assert codes == [404] * 10
        limited = open_share(client, live, "shr_" + "y" * 10, "guess")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    share = create(live)
    with recipient() as other:  # another source is not held up
        assert open_share(other, live, share["id"], share["passphrase"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "value": "v", "expiresInSeconds": 59},
        {"name": "x", "value": "v", "expiresInSeconds": 86401},
        {"name": "x", "value": "v" * (100 * 1024 + 1), "expiresInSeconds": 300},
        {"name": "x", "value": "", "expiresInSeconds": 300},
        {"name": "", "value": "v", "expiresInSeconds": 300},
        {"name": "x", "expiresInSeconds": 300},
        {"name": "x", "generateRandom": True, "length": 0, "expiresInSeconds": 300},
    ],
)
def test_bad_input_is_refused_and_nothing_saved(server: Server, body: dict[str, Any]) -> None:
    op = server.op
    before = op.get("/v1/admin/shares")["shares"]
    response = op.http.post("/v1/admin/shares", json=body)
    assert response.status_code == 400 and set(response.json()) == {"error"}
    assert op.get("/v1/admin/shares")["shares"] == before


def test_generated_and_boundary_lifetimes(server: Server) -> None:
    live = server.live
    made = live.ok(
        "share",
        "create",
        "--name",
        "gen",
        "--generate",
        "--length",
        "48",
        "--expires-in",
        "24h",
        "--json",
    ).json()
    with recipient() as client:
        value = open_share(client, live, made["id"], made["passphrase"]).json()["value"]
    assert len(value) == 48
    VALUES.append(value)
    assert create(live, expires="60s")["id"].startswith("shr_")


def test_values_never_reach_an_event_or_the_log(server: Server) -> None:
    live = server.live
    events = stored_event_bytes(live)
    log = live.log_path.read_bytes()
    assert b"keyledger.share.Viewed" in events
    for value in VALUES:
        assert value.encode() not in events and json.dumps(value).encode() not in events
        assert value.encode() not in log
