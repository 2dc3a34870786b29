"""The host CLI's offline cache (§6.2) against a live server: opt-in, sealed at rest,
served when the server cannot answer, never when it refuses."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.e2e.conftest import LiveServer
from tests.e2e.test_host_cli import Host, call, connect, operator

VALUE = "pg://app:s3cr3t-offline-value@db/prod"


def test_the_cache_serves_when_the_server_is_down_and_never_after_a_refusal(
    live: LiveServer, tmp_path: Path
) -> None:
    ops = operator(live)
    pid = call(ops, "/v1/admin/projects", {"name": "payments"})["id"]
    sid = call(ops, f"/v1/admin/projects/{pid}/secrets", {"name": "db", "value": VALUE})["id"]
    other = call(ops, f"/v1/admin/projects/{pid}/secrets", {"name": "x", "value": "other"})["id"]
    host = Host(live, tmp_path / "host")
    me = connect(live, ops, host)
    mid, vault = me["machineId"], me["vaultId"]
    call(ops, f"/v1/admin/machines/{mid}/approve")
    call(ops, f"/v1/admin/machines/{mid}/projects", {"projectId": pid})
    for secret in (sid, other):
        call(ops, f"/v1/admin/machines/{mid}/grants", {"secretId": secret})
    cache_dir = host.home / "vaults" / vault / "cache"

    # Off by default: nothing is written.
    assert host.ok("get", sid).stdout == VALUE
    assert not cache_dir.exists()
    host.ok("cache", "enable")
    assert json.loads(host.ok("cache", "status", "--json").stdout) == {
        "enabled": True,
        "entries": 0,
    }
    assert host.ok("get", sid).stdout == VALUE
    assert host.ok("get", other).stdout == "other"
    entry = cache_dir / f"{sid}.skc"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    raw = entry.read_bytes()
    assert VALUE.encode() not in raw and b"s3cr3t" not in raw
    assert set(json.loads(raw)) == {"v", "nonce", "ct", "cachedAt"}
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]

    # A refusal (grant revoked: 403) is not served, and drops the entry.
    call(ops, f"/v1/admin/machines/{mid}/grants/{other}/revoke")
    refused = host.cli("get", other)
    assert refused.code == 1 and "403" in refused.stderr and refused.stdout == ""
    assert "offline cache" not in refused.stderr
    assert not (cache_dir / f"{other}.skc").exists()

    # The server is down: the cached value is served, and stderr says so.
    live.stop()
    served = host.cli("get", sid)
    assert served.code == 0, served.stderr
    assert served.stdout == VALUE and "served from the offline cache" in served.stderr
    assert VALUE not in served.stderr
    assert host.cli("get", other).code == 1  # never cached after the refusal
    assert host.ok("get", sid, "--offline").stdout == VALUE

    # A tampered entry does not open; disabling deletes every entry.
    sealed = json.loads(raw)
    sealed["cachedAt"] += 1
    entry.write_text(json.dumps(sealed))
    assert host.cli("get", sid, "--offline").code == 1
    host.ok("cache", "disable")
    assert not list(cache_dir.glob("*.skc"))
    assert host.cli("get", sid).code == 1
