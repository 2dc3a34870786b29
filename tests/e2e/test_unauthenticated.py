"""What an unauthenticated caller can do to a live server: choose no key, grow no ledger,
guess no password at speed; and what a sealed server records (issue 8: 1, 4, 12)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.settings import Settings
from tests.e2e.conftest import LiveServer, serve
from tests.e2e.machine_helpers import OWNER, PASSWORD, Operator, register_machine, signed

FOLDED = re.compile(r"^×(\d+) in \d+ s: ")


@pytest.fixture
def sealed_live(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh store served by a server started sealed (`KEYLEDGER_START_SEALED=1`)."""
    yield from serve(settings, tmp_path, KEYLEDGER_START_SEALED="1")


def random_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def unseal(live: LiveServer, key: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(live.url + "/v1/admin/unseal", json={"key": key}, headers=headers, timeout=30)


def is_sealed(live: LiveServer) -> bool:
    return bool(httpx.get(live.url + "/v1/admin/status", timeout=30).json()["sealed"])


def counted(entries: list[dict[str, Any]]) -> int:
    """How many failures these access-log records stand for (a fold counts its ×N)."""
    total = 0
    for entry in entries:
        match = FOLDED.match(entry["detail"] or "")
        total += int(match.group(1)) if match else 1
    return total


# -- 1: the first key needs the owner --------------------------------------------------


def test_fresh_sealed_server_lets_no_stranger_choose_its_key(sealed_live: LiveServer) -> None:
    live = sealed_live
    stranger = unseal(live, random_key())  # before init: nobody may set the key
    assert stranger.status_code == 401 and set(stranger.json()) == {"error"}
    assert is_sealed(live)

    live.ok("init", "--email", OWNER, "--password-stdin", stdin=PASSWORD)
    stranger = unseal(live, random_key())  # after init, still without the owner's session
    assert stranger.status_code == 401, stranger.text
    assert "owner" in stranger.json()["error"]
    assert is_sealed(live)

    live.ok("login", "--email", OWNER, "--password-stdin", stdin=PASSWORD)
    key_file = live.home / "server.key"
    key_file.write_text(random_key() + "\n")
    live.ok("unseal", "--key-file", str(key_file))  # the owner's session sets the first key
    assert not is_sealed(live)

    live.stop()
    live.start()
    assert is_sealed(live)
    wrong = unseal(live, random_key())
    assert wrong.status_code == 400 and wrong.json() == {
        "error": "That key does not unseal this vault"
    }
    assert is_sealed(live)
    assert unseal(live, key_file.read_text()).status_code == 200  # the key is the credential
    assert not is_sealed(live)

    token = json.loads((live.home / "session.json").read_text())["token"]  # the CLI's session
    entries = httpx.get(
        live.url + "/v1/admin/audit",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["entries"]
    refusals = [e for e in entries if e["action"] == "auth_failure"]
    assert [e["log"] for e in refusals] == ["access"] * 3
    assert [e["detail"] for e in refusals] == [
        "first unseal key without the owner's session",
        "first unseal key without the owner's session",
        "unseal key rejected",
    ]
    unseals = [e for e in entries if e["action"] == "server_unseal"]
    assert unseals[0]["detail"] == "first server key set" and unseals[0]["userId"]


def test_wrong_unseal_keys_are_throttled(live: LiveServer) -> None:
    op = Operator(live)
    op.seal()
    for _ in range(5):
        assert unseal(live, random_key()).status_code == 400
    throttled = unseal(live, (live.settings.data_dir / "server.key").read_text())
    assert throttled.status_code == 429 and set(throttled.json()) == {"error"}
    wait = int(throttled.headers["Retry-After"])
    assert 1 <= wait <= 2
    time.sleep(wait)
    assert unseal(live, (live.settings.data_dir / "server.key").read_text()).status_code == 200
    details = [e["detail"] for e in op.audit() if e["action"] == "auth_failure"]
    assert details == ["unseal key rejected"] * 5  # the throttled try joins the fold


# -- 4: failures never reach the ledger; the access log folds them ------------------


def test_bogus_registrations_logins_and_requests_leave_the_ledger_alone(
    live: LiveServer,
) -> None:
    op = Operator(live)
    ledger_before = [e for e in op.audit(1000) if e["log"] == "ledger"]

    for _ in range(200):
        response = httpx.post(
            live.url + "/v1/bootstrap/register",
            json={"token": secrets.token_hex(24), "publicKey": random_key(), "hostname": "x"},
            timeout=30,
        )
        assert response.status_code == 401
    assert [e for e in op.audit(1000) if e["log"] == "ledger"] == ledger_before
    statuses = []
    for _ in range(200):
        response = httpx.post(
            live.url + "/v1/admin/login",
            json={"email": OWNER, "password": "wrong password 1!"},
            timeout=30,
        )
        statuses.append(response.status_code)
    # Five free tries, then a wait that doubles after every further failure: only a
    # few more passwords are checked however long the loop takes (< 2 ** 7 s here).
    assert statuses[:6] == [401] * 5 + [429] and set(statuses) == {401, 429}
    assert statuses.count(401) <= 5 + 7
    for _ in range(50):
        assert httpx.get(live.url + "/v1/secrets", timeout=30).status_code == 401
    setup = httpx.post(
        live.url + "/v1/admin/init",
        json={"setupCode": "0", "email": OWNER, "password": PASSWORD},
        timeout=30,
    )
    assert setup.status_code == 409  # initialised already: not even a failure

    assert [e for e in op.audit(1000) if e["log"] == "ledger"] == ledger_before
    live.stop()  # shutdown writes the folds of the open interval
    live.start()
    failures = [
        e for e in op.audit(1000) if e["action"] == "auth_failure" and e["sourceIp"] == "127.0.0.1"
    ]
    assert {e["log"] for e in failures} == {"access"}
    assert counted(failures) == 450  # every failure accounted for …
    assert len(failures) <= 30  # … in a handful of records
    folds = [e for e in failures if FOLDED.match(e["detail"] or "")]
    assert folds and "bootstrap token rejected ×" in " ".join(e["detail"] for e in folds)
    assert [e for e in op.audit(1000) if e["log"] == "ledger"] == ledger_before


def test_login_lockout_answers_429_and_spares_other_addresses(live: LiveServer) -> None:
    live.ok("init", "--email", OWNER, "--password-stdin", stdin=PASSWORD)
    url = f"http://127.0.0.1:{live.port}/v1/admin/login"
    for _ in range(5):
        bad = httpx.post(url, json={"email": OWNER, "password": "nope nope 1!"}, timeout=30)
        assert bad.status_code == 401
    locked = httpx.post(url, json={"email": OWNER, "password": PASSWORD}, timeout=30)
    assert locked.status_code == 429, locked.text
    assert set(locked.json()) == {"error"} and "try again" in locked.json()["error"]
    wait = int(locked.headers["Retry-After"])
    assert 1 <= wait <= 2

    # The owner at another address is not locked out by the guesser's failures.
    elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with elsewhere:
        ok = elsewhere.post(url, json={"email": OWNER, "password": PASSWORD}, timeout=30)
    assert ok.status_code == 200, ok.text

    time.sleep(wait)  # the announced wait, then the right password works here too
    assert httpx.post(url, json={"email": OWNER, "password": PASSWORD}, timeout=30).is_success
    headers = {"Authorization": f"Bearer {ok.json()['token']}"}
    audit = httpx.get(live.url + "/v1/admin/audit", headers=headers, timeout=30).json()
    details = [e["detail"] for e in audit["entries"] if e["action"] == "auth_failure"]
    assert details == ["operator login failed"] * 5  # the 429 is counted in the fold


def test_refused_session_tokens_are_audited_not_ledgered(live: LiveServer) -> None:
    op = Operator(live)
    login = {"email": OWNER, "password": PASSWORD}
    stale = httpx.post(live.url + "/v1/admin/login", json=login, timeout=30).json()["token"]
    closed = httpx.post(
        live.url + "/v1/admin/logout", headers={"Authorization": f"Bearer {stale}"}, timeout=30
    )
    assert closed.is_success  # a real token, now revoked
    ledger_before = [e for e in op.audit(1000) if e["log"] == "ledger"]
    tokens = [stale] + [secrets.token_hex(32) for _ in range(7)]
    for token in tokens:
        response = httpx.get(
            live.url + "/v1/admin/projects",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 401 and set(response.json()) == {"error"}

    live.stop()  # shutdown writes the fold of the open interval
    live.start()
    refused = [
        e
        for e in op.audit(1000)
        if e["action"] == "auth_failure" and "session token refused" in (e["detail"] or "")
    ]
    assert {e["log"] for e in refused} == {"access"}
    assert counted(refused) == len(tokens)  # all eight, five alone and the rest folded
    assert [e for e in op.audit(1000) if e["log"] == "ledger"] == ledger_before


# -- 12: a read refused while sealed is audited ------------------------------------


def test_machine_read_refused_while_sealed_is_audited(live: LiveServer) -> None:
    op = Operator(live)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", "sk_live_sealed_value")
    machine = register_machine(live, op, "web-1", project_id=project, grants=(secret,))
    op.seal()
    request = signed(live, machine, "GET", f"/v1/secret/{secret}")
    refused = request.send()
    assert refused.status_code == 503 and set(refused.json()) == {"error"}
    listing = signed(live, machine, "GET", "/v1/secrets").send()
    assert listing.status_code == 503
    denied = [e for e in op.audit() if e["action"] == "secret_read_denied"]
    assert [e["detail"] for e in denied] == [
        f"server is sealed (GET /v1/secret/{secret})",
        "server is sealed (GET /v1/secrets)",
    ]
    assert {e["machineId"] for e in denied} == {machine.machine_id}
    op.unseal()
    replayed = request.send()  # the refused request used up its nonce
    assert replayed.status_code == 401
    assert signed(live, machine, "GET", f"/v1/secret/{secret}").send().status_code == 200
