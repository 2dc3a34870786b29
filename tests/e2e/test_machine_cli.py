"""Machine management through the real CLI against a live server, on both stores.

Machines register over HTTP with a fresh Ed25519 key, exactly as the bootstrap
script does; everything the operator does goes through `keyledger` processes.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.conftest import LiveServer

PASSWORD = "correct horse 1!"


def login(live: LiveServer) -> None:
    live.ok("init", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    live.ok("login", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)


def register(live: LiveServer, token: str, name: str, hostname: str = "h1") -> httpx.Response:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return httpx.post(
        f"{live.url}/v1/bootstrap/register",
        json={
            "token": token,
            "publicKey": base64.b64encode(raw).decode(),
            "hostname": hostname,
            "name": name,
        },
        timeout=10,
    )


def new_machine(live: LiveServer, name: str, hostname: str = "h1") -> str:
    token = live.ok("machine", "token", "--json").json()["token"]
    response = register(live, token, name, hostname)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending" and body["machineName"] == name
    assert body["apiUrl"] == live.url
    return str(body["machineId"])


def project_with_secret(live: LiveServer) -> tuple[str, str]:
    pid = live.ok("project", "create", "payments", "--json").json()["id"]
    sid = live.ok(
        "secret",
        "create",
        "--project",
        pid,
        "--name",
        "stripe-key",
        "--value-stdin",
        "--json",
        stdin="sk_live_value",
    ).json()["id"]
    return pid, sid


def actions(live: LiveServer) -> list[str]:
    audit: list[dict[str, Any]] = live.ok("audit", "tail", "--limit", "200", "--json").json()
    return [e["action"] for e in audit]


def test_machine_lifecycle(live: LiveServer) -> None:
    login(live)
    pid, sid = project_with_secret(live)

    # The human token output: the token, its expiry and both ways to connect.
    human = live.ok("machine", "token", "--name", "web-1")
    token = human.stderr.split("Bootstrap token: ", 1)[1].split()[0]
    assert len(token) == 48
    assert f"curl -sSL {live.url}/v1/bootstrap/{token} | sh" in human.stderr
    assert f"keyledger connect --token {token} --server {live.url}" in human.stderr
    assert "Expires at:" in human.stderr
    issued = live.ok("machine", "token", "--json").json()
    assert set(issued) == {"token", "expiresAt", "commands"}
    assert issued["commands"]["python"].endswith(f"--token {issued['token']} --server {live.url}")

    mid = new_machine(live, "api-1")
    listed = live.ok("machine", "list", "--json").json()
    assert [(m["id"], m["name"], m["status"]) for m in listed] == [(mid, "api-1", "pending")]
    assert [
        m["id"] for m in live.ok("machine", "list", "--status", "pending", "--json").json()
    ] == [mid]
    assert live.ok("machine", "list", "--status", "approved", "--json").json() == []
    assert live.cli("machine", "list", "--status", "bogus").code == 2
    table = live.ok("machine", "list")
    assert mid in table.stdout and "api-1" in table.stdout and "pending" in table.stdout

    approved = live.ok("machine", "approve", mid, "--json").json()
    assert approved["status"] == "approved" and approved["enabled"] is True
    assert live.cli("machine", "approve", mid).code == 1  # no longer pending

    added = live.ok("machine", "add-to-project", mid, "--project", pid)
    assert "added to project" in added.stderr
    granted = live.ok("grant", mid, sid, "--json").json()
    assert granted == {"machineId": mid, "secretId": sid, "granted": True}

    shown = live.ok("machine", "show", mid, "--json").json()
    assert shown["projects"] == [pid] and shown["grants"] == [sid]
    assert shown["status"] == "approved" and shown["hostname"] == "h1"
    human_show = live.ok("machine", "show", mid)
    assert pid in human_show.stderr and sid in human_show.stderr
    listed = live.ok("machine", "list", "--json").json()
    assert listed[0]["grantCount"] == 1 and listed[0]["projects"] == [pid]

    renamed = live.ok("machine", "rename", mid, "api-primary", "--json").json()
    assert renamed["name"] == "api-primary"
    assert renamed["nameHistory"] == ["api-1", "api-primary"]
    shown = live.ok("machine", "show", mid, "--json").json()
    assert shown["nameHistory"] == ["api-1", "api-primary"] and shown["name"] == "api-primary"
    assert "api-1 → api-primary" in live.ok("machine", "show", mid).stderr

    # Preview counts the cascade and changes nothing.
    preview = live.ok("machine", "revoke", mid, "--preview", "--json").json()
    assert preview["preview"] is True
    assert (preview["grants"], preview["projects"]) == (1, 1)
    human_preview = live.ok("machine", "revoke", mid, "--preview")
    assert "1 grant(s) and 1 project membership(s)" in human_preview.stderr
    shown = live.ok("machine", "show", mid, "--json").json()
    assert shown["status"] == "approved" and shown["grants"] == [sid]

    # Without --yes and without a terminal: a usage error, nothing revoked.
    refused = live.cli("machine", "revoke", mid)
    assert refused.code == 2 and "--yes" in refused.stderr
    assert live.ok("machine", "show", mid, "--json").json()["status"] == "approved"

    revoked = live.ok("machine", "revoke", mid, "--yes", "--json").json()
    assert revoked["revoked"] is True and (revoked["grants"], revoked["projects"]) == (1, 1)
    shown = live.ok("machine", "show", mid, "--json").json()
    assert shown["status"] == "revoked" and shown["enabled"] is False
    assert shown["grants"] == [] and shown["projects"] == []
    assert live.ok("machine", "list", "--status", "revoked", "--json").json()[0]["id"] == mid
    assert live.cli("machine", "revoke", mid, "--yes").code == 1  # already revoked

    seen = actions(live)
    for expected in (
        "bootstrap_token_create",
        "machine_register",
        "machine_approve",
        "project_machine_add",
        "permission_grant",
        "permission_revoke",
        "machine_revoke",
    ):
        assert expected in seen, expected
    assert live.ok("audit", "verify", "--json").json()["intact"] is True


def test_deny_disable_grants_and_errors(live: LiveServer) -> None:
    login(live)
    pid, sid = project_with_secret(live)
    first = new_machine(live, "api-1")
    second = new_machine(live, "api-2", hostname="h2")

    denied = live.ok("machine", "deny", second, "--json").json()
    assert denied["status"] == "denied"
    assert "denied" in live.ok("machine", "list", "--status", "denied").stdout
    blocked = live.cli("machine", "add-to-project", second, "--project", pid)
    assert blocked.code == 1 and "denied" in blocked.stderr

    live.ok("machine", "approve", first)
    disabled = live.ok("machine", "disable", first, "--json").json()
    assert disabled["enabled"] is False and disabled["status"] == "approved"
    assert "approved (disabled)" in live.ok("machine", "list").stdout
    again = live.cli("machine", "disable", first)
    assert again.code == 1 and "already disabled" in again.stderr
    enabled = live.ok("machine", "enable", first, "--json").json()
    assert enabled["enabled"] is True

    unknown = str(uuid.uuid4())
    missing = live.cli("machine", "approve", unknown)
    assert missing.code == 1 and "not found" in missing.stderr and "404" in missing.stderr
    assert "not found" in live.cli("machine", "show", "not-a-uuid").stderr

    early = live.cli("grant", first, sid)
    assert early.code == 1 and "409" in early.stderr
    assert f"Add machine {first} to project {pid} first" in early.stderr

    live.ok("machine", "add-to-project", first, "--project", pid)
    live.ok("grant", first, sid)
    revoked = live.ok("revoke-grant", first, sid, "--json").json()
    assert revoked == {"machineId": first, "secretId": sid, "granted": False}
    assert live.ok("machine", "show", first, "--json").json()["grants"] == []

    live.ok("grant", first, sid)
    removed = live.ok("machine", "remove-from-project", first, "--project", pid, "--json").json()
    assert removed["grantsDropped"] == 1
    shown = live.ok("machine", "show", first, "--json").json()
    assert shown["grants"] == [] and shown["projects"] == []

    assert live.cli("machine", "rename", first, " ").code == 1
    assert live.cli("machine", "approve").code == 2  # missing argument
    assert live.cli("machine", "add-to-project", first).code == 2  # missing --project

    seen = actions(live)
    assert "machine_deny" in seen and "machine_disable" in seen and "machine_enable" in seen
    assert seen.count("permission_revoke") == 2


def test_ip_allowlist(live: LiveServer) -> None:
    login(live)

    empty = live.ok("ipallowlist", "list", "--json").json()
    assert empty == {"enabled": False, "entries": []}

    # Enabling an empty list warns: every machine request will be denied.
    warned = live.ok("ipallowlist", "enable", "--json")
    assert warned.json() == {"enabled": True, "entries": []}
    assert "warning" in warned.stderr and "denied" in warned.stderr
    token = live.ok("machine", "token", "--json").json()["token"]
    assert register(live, token, "blocked").status_code == 403
    live.ok("ipallowlist", "disable")

    added = live.ok("ipallowlist", "add", "10.0.0.0/8", "--label", "office", "--json").json()
    assert [(e["cidr"], e["label"]) for e in added["entries"]] == [("10.0.0.0/8", "office")]
    bad = live.cli("ipallowlist", "add", "10.0.0.300/8")
    assert bad.code == 1 and "not an IP address or CIDR" in bad.stderr
    dup = live.cli("ipallowlist", "add", "10.1.2.3/8")  # normalises to the same range
    assert dup.code == 1 and "already on the allowlist" in dup.stderr

    listed = live.ok("ipallowlist", "list", "--json").json()
    assert listed["enabled"] is False
    assert len(listed["entries"]) == 1
    entry = listed["entries"][0]
    assert entry["id"].startswith("ip_") and entry["cidr"] == "10.0.0.0/8"
    assert "office" in live.ok("ipallowlist", "list").stdout

    on = live.ok("ipallowlist", "enable")
    assert "warning" not in on.stderr and "enabled" in on.stderr
    assert live.ok("ipallowlist", "list", "--json").json()["enabled"] is True
    # 127.0.0.1 is not in 10.0.0.0/8: registration is refused.
    assert register(live, token, "still-blocked").status_code == 403
    live.ok("ipallowlist", "disable")
    assert live.ok("ipallowlist", "list", "--json").json()["enabled"] is False
    # Disabled again: the same (still unused) token now works.
    assert register(live, token, "allowed").status_code == 201

    live.ok("ipallowlist", "remove", entry["id"])
    assert live.ok("ipallowlist", "list", "--json").json()["entries"] == []
    gone = live.cli("ipallowlist", "remove", entry["id"])
    assert gone.code == 1 and "not found" in gone.stderr

    seen = actions(live)
    for expected in (
        "ipallowlist_enable",
        "ipallowlist_disable",
        "ipallowlist_add",
        "ipallowlist_remove",
        "bootstrap_token_create",
        "machine_register",
        "auth_failure",
    ):
        assert expected in seen, expected
