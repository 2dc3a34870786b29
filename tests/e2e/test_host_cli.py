"""The host side end to end: `keyledger connect`, get, list, export, run, status, whoami.

The operator acts over HTTP with the session the CLI stored; the host is a separate
$KEYLEDGER_HOME running real `keyledger` processes against a live server.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sikkerkey import SikkerKey

from tests.e2e.conftest import ROOT, LiveServer, Result

PASSWORD = "correct horse 1!"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
DB_PASSWORD = 'p"w\\d'


class Host:
    def __init__(self, live: LiveServer, home: Path) -> None:
        self.home = home
        self.env = {
            k: v for k, v in live.env.items() if k not in ("KEYLEDGER_SERVER", "KEYLEDGER_DATA_DIR")
        }
        self.env["KEYLEDGER_HOME"] = str(home)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "interfaces.cli.main", *args]

    def cli(self, *args: str, **env: str) -> Result:
        done = subprocess.run(
            self.argv(*args), cwd=ROOT, env={**self.env, **env}, capture_output=True, timeout=60
        )
        return Result(done.returncode, done.stdout.decode(), done.stderr.decode())

    def ok(self, *args: str) -> Result:
        result = self.cli(*args)
        assert result.code == 0, f"{args} -> {result.code}: {result.stderr}"
        return result


def operator(live: LiveServer) -> httpx.Client:
    live.ok("init", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    live.ok("login", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    token = json.loads((live.home / "session.json").read_text())["token"]
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def call(ops: httpx.Client, path: str, body: dict[str, Any] | None = None) -> Any:
    response = ops.post(path, json=body if body is not None else {})
    assert response.status_code < 300, response.text
    return response.json()


def connect(live: LiveServer, ops: httpx.Client, host: Host, *extra: str) -> dict[str, Any]:
    token = call(ops, "/v1/admin/machines/token")["token"]
    result = host.ok("connect", "--token", token, "--server", live.url, "--json", *extra)
    return dict(result.json())


def test_a_machine_reads_its_secrets(live: LiveServer, tmp_path: Path) -> None:
    ops = operator(live)
    pid = call(ops, "/v1/admin/projects", {"name": "payments"})["id"]
    stripe = call(ops, f"/v1/admin/projects/{pid}/secrets", {"name": "stripe-key", "value": STRIPE})
    fields = {"host": "db.internal", "port": "5432", "password": DB_PASSWORD}
    db = call(ops, f"/v1/admin/projects/{pid}/secrets", {"name": "db", "fields": fields})
    other = call(ops, "/v1/admin/projects", {"name": "other"})["id"]
    call(ops, f"/v1/admin/projects/{other}/secrets", {"name": "unrelated", "value": "nope"})
    sid, dbid = stripe["id"], db["id"]

    host = Host(live, tmp_path / "host")
    bad = host.cli("connect", "--token", "0" * 48, "--server", live.url)
    assert bad.code == 1 and "token" in bad.stderr.lower()
    assert not any((host.home / "vaults").iterdir())
    me = connect(live, ops, host, "--name", "api-1")
    mid, vault = me["machineId"], me["vaultId"]
    assert me["machineName"] == "api-1" and me["replaced"] is False
    ident = Path(me["identity"])
    assert ident == host.home / "vaults" / vault / "identity.json"
    stored = json.loads(ident.read_text())
    assert stored == {
        "machineId": mid,
        "machineName": "api-1",
        "vaultId": vault,
        "apiUrl": live.url,
        "privateKeyPath": str(ident.parent / "private.pem"),
    }
    for path in (ident, ident.parent / "private.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for path in (host.home, host.home / "vaults", ident.parent):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert "BEGIN PRIVATE KEY" in (ident.parent / "private.pem").read_text()

    # Pending: the server part is fine, the machine part says why it cannot read.
    pending = host.cli("status", "--json")
    assert pending.code == 1
    report = pending.json()
    assert report["server"]["sealed"] is False and report["server"]["vaultId"] == vault
    assert report["machine"]["keyReadable"] is True and report["machine"]["authenticated"] is False
    assert "pending" in report["machine"]["error"]
    refused = host.cli("get", sid)
    assert refused.code == 1 and "pending" in refused.stderr and refused.stdout == ""

    call(ops, f"/v1/admin/machines/{mid}/approve")
    call(ops, f"/v1/admin/machines/{mid}/projects", {"projectId": pid})
    call(ops, f"/v1/admin/machines/{mid}/grants", {"secretId": sid})
    call(ops, f"/v1/admin/machines/{mid}/grants", {"secretId": dbid})

    # get: raw value, JSON, one field, an unknown field.
    assert host.ok("get", sid).stdout == STRIPE
    assert host.ok("get", sid, "-o", "json").json() == {"id": sid, "value": STRIPE, "fields": None}
    assert host.ok("get", dbid, "password").stdout == DB_PASSWORD
    assert host.ok("get", dbid, "-o", "json").json()["fields"] == fields
    unknown = host.cli("get", dbid, "user")
    assert unknown.code == 1 and "host, password, port" in unknown.stderr and unknown.stdout == ""
    assert host.cli("get", "sk_0000000000").code == 1
    assert host.cli("get", "../admin/whoami").code == 2

    # list
    listed = host.ok("list", "secrets", "--json").json()
    assert sorted(s["id"] for s in listed) == sorted([sid, dbid])
    table = host.ok("list", "secrets").stdout
    assert "[structured]" in table and "payments" in table and STRIPE not in table
    projects = host.ok("list", "projects", "--json").json()
    assert [(p["projectId"], p["projectName"]) for p in projects] == [(pid, "payments")]

    # export: three formats, structured secrets flattened; the SDK agrees.
    expected = {
        "STRIPE_KEY": STRIPE,
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "DB_PASSWORD": DB_PASSWORD,
    }
    assert host.ok("export", "--format", "json").json() == expected
    assert host.ok("export", "--format", "json", "--project", pid).json() == expected
    assert host.ok("export", "--format", "json", "--project", other).json() == {}
    env_lines = host.ok("export").stdout.splitlines()
    assert f"DB_PASSWORD='{DB_PASSWORD}'" in env_lines and len(env_lines) == 4
    show = f"import json, os; print(json.dumps({{k: os.environ[k] for k in {list(expected)}}}))"
    evaluated = subprocess.run(
        ["sh", "-c", f'set -a; eval "$(cat)" && exec {sys.executable} -c "$0"', show],
        input="\n".join(env_lines),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(evaluated.stdout) == expected
    dotenv = host.ok("export", "--format", "dotenv").stdout.splitlines()
    assert 'DB_PASSWORD="p\\"w\\\\d"' in dotenv and f'STRIPE_KEY="{STRIPE}"' in dotenv
    sdk = SikkerKey(str(ident))
    assert sdk.get_secret(sid) == STRIPE and sdk.get_field(dbid, "host") == "db.internal"
    assert sdk.export() == expected

    # run: variables named after ids (--secret) or names (--all); exit codes come back.
    assert sid.startswith("sk_")  # SK_<ID>: the id upper-cased, sk_ab12 -> SK_AB12
    script = (
        "import os, sys; "
        f"print(os.environ['{sid.upper()}'], os.environ['{dbid.upper()}_PORT'], "
        "os.environ['HOME']); sys.exit(7)"
    )
    ran = host.cli("run", "--secret", sid, "--secret", dbid, "--", sys.executable, "-c", script)
    assert ran.code == 7, ran.stderr
    assert ran.stdout.split() == [STRIPE, "5432", os.environ["HOME"]]
    script = "import os; print(os.environ['APP_DB_HOST'], os.environ['APP_STRIPE_KEY'])"
    ran = host.ok("run", "--all", "--prefix", "APP_", "--", sys.executable, "-c", script)
    assert ran.stdout.split() == ["db.internal", STRIPE]
    dry = host.ok("run", "--all", "--dry-run", "--", "false").stdout
    assert "STRIPE_KEY=****" in dry and "DB_PORT=****" in dry and STRIPE not in dry
    shown = host.ok("run", "--all", "--dry-run", "--show-values").stdout
    assert f"STRIPE_KEY={STRIPE}" in shown
    assert host.cli("run", "--all", "--secret", sid, "--", "true").code == 2
    assert host.cli("run", "--all").code == 2

    # status and whoami, both parts.
    report = host.ok("status", "--json").json()
    assert report["server"]["url"] == live.url and report["server"]["sealed"] is False
    machine = report["machine"]
    assert machine["ok"] is True and machine["readableSecrets"] == 2
    assert machine["machineId"] == mid and machine["status"] == "approved"
    human = host.ok("status").stderr
    assert "unsealed" in human and "approved, 2 readable secret(s)" in human, human
    assert f"machine api-1 ({mid}) in {vault}" in host.ok("whoami").stderr
    who = host.ok("whoami", "--json").json()
    assert who["operator"] is None and who["machine"]["machineName"] == "api-1"
    assert who["machine"]["enabled"] is True
    op = live.ok("whoami", "--json").json()
    assert op["operator"]["email"] == "owner@example.com" and op["machine"] is None
    assert live.ok("status", "--json").json()["machine"] is None
    assert Host(live, tmp_path / "nobody").cli("whoami").code == 1

    # Several vaults here: the commands ask which one.
    fake = host.home / "vaults" / "vault_zzzzzzzzzz"
    fake.mkdir(mode=0o700)
    (fake / "identity.json").write_text(ident.read_text())
    several = host.cli("get", sid)
    assert several.code == 2 and "--vault" in several.stderr
    assert host.ok("get", sid, "--vault", vault).stdout == STRIPE
    assert host.ok("get", sid, "--identity", str(ident)).stdout == STRIPE
    assert host.cli("get", sid, KEYLEDGER_IDENTITY=str(ident)).stdout == STRIPE
    (fake / "identity.json").unlink()

    # Connecting again replaces this vault's identity (a new machine, pending).
    again = host.cli("connect", "--token", call(ops, "/v1/admin/machines/token")["token"])
    assert again.code == 2  # --server is required
    token = call(ops, "/v1/admin/machines/token")["token"]
    replaced = host.ok("connect", "--token", token, "--server", live.url)
    assert "replaced" in replaced.stderr and "pending approval" in replaced.stderr
    assert json.loads(ident.read_text())["machineId"] != mid
    assert "pending" in host.cli("get", sid).stderr
    # The old machine proved its key and was retired with its grants: revoked for good.
    old = ops.get(f"/v1/admin/machines/{mid}").json()
    assert old["status"] == "revoked" and old["grants"] == [] and old["projects"] == []


def test_run_watch_restarts_the_child_on_a_change(live: LiveServer, tmp_path: Path) -> None:
    ops = operator(live)
    pid = call(ops, "/v1/admin/projects", {"name": "web"})["id"]
    sid = call(ops, f"/v1/admin/projects/{pid}/secrets", {"name": "token", "value": "one"})["id"]
    host = Host(live, tmp_path / "host")
    mid = connect(live, ops, host)["machineId"]
    call(ops, f"/v1/admin/machines/{mid}/approve")
    call(ops, f"/v1/admin/machines/{mid}/projects", {"projectId": pid})
    call(ops, f"/v1/admin/machines/{mid}/grants", {"secretId": sid})

    seen = tmp_path / "seen.txt"
    child = (
        "import os, time; "
        f"open({str(seen)!r}, 'a').write(os.environ['TOKEN'] + '\\n'); "
        "time.sleep(120)"
    )
    process = subprocess.Popen(
        host.argv("run", "--all", "--watch", "--watch-interval", "0.5", "--", *python(child)),
        cwd=ROOT,
        env={**host.env, "KEYLEDGER_RUN_WATCH_MIN_INTERVAL": "0.2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: seen.exists() and seen.read_text() == "one\n", process)
        call(ops, f"/v1/admin/secrets/{sid}/replace", {"value": "two"})
        wait_for(lambda: seen.read_text() == "one\ntwo\n", process)
        time.sleep(1.5)  # several more polls: no spurious restart
        assert seen.read_text() == "one\ntwo\n"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert b"restarting" in err and b"two" not in err


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for(condition: Any, process: subprocess.Popen[bytes], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("timed out")
