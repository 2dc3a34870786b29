"""The machine-plane walkthrough of the issue, end to end, on both stores.

Operator commands through the CLI; the host registers with the real bootstrap
script (`curl … | sh`, POSIX sh + openssl, no root) and reads through the CLI and
the unmodified official SDK. Revocation bites on the very next request.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import AccessDeniedError

from tests.e2e.conftest import LiveServer
from tests.e2e.test_host_cli import Host

PASSWORD = "correct horse 1!"
STRIPE = "sk_live_walkthrough_51c0ffee"


def bootstrap_with_sh(live: LiveServer, token: str, home: Path) -> Path:
    env = {**os.environ, "KEYLEDGER_HOME": str(home), "KEYLEDGER_MACHINE_NAME": "api-1"}
    done = subprocess.run(
        ["sh", "-c", f"curl -sSL {live.url}/v1/bootstrap/{token} | sh"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"pending approval" in done.stdout
    (identity,) = home.glob("vaults/vault_*/identity.json")
    return identity


def test_machine_walkthrough(live: LiveServer, tmp_path: Path) -> None:
    live.ok("init", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    live.ok("login", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
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
        stdin=STRIPE,
    ).json()["id"]
    db = live.ok(
        "secret",
        "create",
        "--project",
        pid,
        "--name",
        "db",
        "--field",
        "host=db.internal",
        "--field",
        "password=",
        "--json",
    ).json()["id"]

    minted = live.ok("machine", "token", "--json").json()
    assert minted["commands"]["sh"].endswith(f"/v1/bootstrap/{minted['token']} | sh")
    home = tmp_path / "host"
    identity = bootstrap_with_sh(live, minted["token"], home)
    ident = json.loads(identity.read_text())
    assert set(ident) == {"machineId", "machineName", "vaultId", "apiUrl", "privateKeyPath"}
    assert ident["machineName"] == "api-1" and ident["apiUrl"] == live.url
    for path in (identity, Path(ident["privateKeyPath"])):
        assert path.stat().st_mode & 0o777 == 0o600
    assert identity.parent.stat().st_mode & 0o777 == 0o700
    assert Path(ident["privateKeyPath"]).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    mid = ident["machineId"]

    # The token was single use.
    again = subprocess.run(
        ["sh", "-c", f"curl -sSL {live.url}/v1/bootstrap/{minted['token']} | sh"],
        env={**os.environ, "KEYLEDGER_HOME": str(tmp_path / "other")},
        capture_output=True,
        timeout=60,
    )
    assert again.returncode != 0 and b"401" in again.stderr

    machines = live.ok("machine", "list", "--json").json()
    assert [(m["id"], m["status"]) for m in machines] == [(mid, "pending")]
    live.ok("machine", "approve", mid)
    live.ok("machine", "add-to-project", mid, "--project", pid)
    live.ok("grant", mid, sid)
    live.ok("grant", mid, db)

    host = Host(live, home)
    assert host.ok("get", sid).stdout.rstrip("\n") == STRIPE
    assert host.ok("get", db, "host").stdout.rstrip("\n") == "db.internal"
    listed = host.ok("list", "secrets", "--json").json()
    assert {s["id"] for s in listed} == {sid, db}
    exported = host.ok("export", "--format", "json").json()
    assert exported["STRIPE_KEY"] == STRIPE and exported["DB_HOST"] == "db.internal"

    sdk = SikkerKey(str(identity))
    assert sdk.get_secret(sid) == STRIPE
    assert sdk.get_field(db, "host") == "db.internal"
    assert sdk.export() == exported

    # Revoking the grant is effective on the very next request.
    live.ok("revoke-grant", mid, sid)
    with pytest.raises(AccessDeniedError):
        sdk.get_secret(sid)
    assert sdk.get_field(db, "host") == "db.internal"

    actions = [e["action"] for e in live.ok("audit", "tail", "--limit", "500", "--json").json()]
    for expected in (
        "bootstrap_token_create",
        "machine_register",
        "machine_approve",
        "project_machine_add",
        "permission_grant",
        "permission_revoke",
        "secret_read",
        "secret_read_denied",
        "auth_failure",
    ):
        assert expected in actions, expected
    assert live.ok("audit", "verify", "--json").json()["intact"] is True
