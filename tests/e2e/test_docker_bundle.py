"""Docker bundles against a live server, on both stores.

The operator provisions with the CLI (`keyledger docker provision --json`); the link
gives the ZIP once; the official SDK, unmodified, reads a granted secret with the
unzipped identity; a second download and an expired link are refused (410) and
audited; after either end the bundle's key is gone, so the private key sealed in the
ledger can never be opened again; the key never reaches an event or the server log.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import SikkerKeyError

from application.dockerbundles import DockerBundles
from domain.bundle import DockerBundle, bundle_aggregate_id
from domain.errors import Gone, IntegrityFailure
from infrastructure.crypto.keyring import KeyRing
from infrastructure.crypto.signatures import Ed25519KeyMaker
from infrastructure.sharestore import SqlShareIndex, bundle_index
from interfaces.bootstrap import build_store
from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Operator
from tests.e2e.test_walkthrough import stored_event_bytes

KEYS: list[bytes] = []  # every private key handed out here: none may be stored or logged


@dataclass
class Server:
    live: LiveServer
    op: Operator
    project: str
    granted: str
    other: str


@dataclass
class Later:
    ms: int

    def now_ms(self) -> int:
        return self.ms


class NoFailures:
    def record(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        project = op.project("containers")
        granted = op.secret(project, "DB_PASSWORD", "s3cret-db")
        other = op.secret(project, "NOT_GRANTED", "nope")
        yield Server(live, op, project, granted, other)


def provision(server: Server, *extra: str) -> dict[str, Any]:
    args = ["docker", "provision", "--project", server.project, "--secret", server.granted]
    return dict(server.live.ok(*args, *extra, "--json").json())


def unzip(content: bytes, into: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    into.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (into / name).write_bytes(data)
    KEYS.append(files["private.pem"])
    return files


def actions(op: Operator, bundle_id: str) -> list[str]:
    return [e["action"] for e in op.audit(1000) if bundle_id in e.get("detail", "")]


def test_the_link_works_once_and_the_sdk_reads_with_the_zip(server: Server, tmp_path: Path) -> None:
    live, op = server.live, server.op
    made = provision(server, "--name", "api", "--mount-path", str(tmp_path / "kl"))
    assert made["machineName"] == "api" and made["url"].startswith(f"{live.url}/v1/docker/")
    assert made["privateKeyPath"] == f"{tmp_path}/kl/private.pem"
    machine = op.get(f"/v1/admin/machines/{made['machineId']}")
    assert machine["status"] == "approved" and machine["enabled"]

    first = httpx.get(made["url"])
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    assert first.headers["content-type"] == "application/zip"
    files = unzip(first.content, tmp_path / "kl")
    assert set(files) == {"identity.json", "private.pem", "cli.json"}
    identity = json.loads(files["identity.json"])
    assert identity == {
        "machineId": made["machineId"],
        "machineName": "api",
        "vaultId": made["vaultId"],
        "apiUrl": live.url,
        "privateKeyPath": f"{tmp_path}/kl/private.pem",
    }
    assert files["private.pem"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert json.loads(files["cli.json"])["projects"] == {"containers": server.project}

    client = SikkerKey(str(tmp_path / "kl" / "identity.json"))  # the official SDK
    assert client.get_secret(server.granted) == "s3cret-db"
    with pytest.raises(SikkerKeyError):
        client.get_secret(server.other)

    again = httpx.get(made["url"])
    assert again.status_code == 410 and set(again.json()) == {"error"}
    assert b"PRIVATE KEY" not in again.content
    assert actions(op, made["bundleId"]) == [
        "machine_register",
        "machine_approve",
        "project_machine_add",
        "permission_grant",
        "docker_bundle_create",
        "docker_bundle_download",
    ]
    denied = [e for e in op.audit(1000) if e["action"] == "docker_bundle_download_denied"]
    assert any("already downloaded" in e["detail"] for e in denied)
    assert_key_destroyed(live, made["url"].rsplit("/", 1)[1])


def test_the_default_mount_is_etc_keyledger(server: Server, tmp_path: Path) -> None:
    made = provision(server)
    assert made["privateKeyPath"] == "/etc/keyledger/private.pem"
    assert made["machineName"].startswith("docker-")
    files = unzip(httpx.get(made["url"]).content, tmp_path)
    assert json.loads(files["identity.json"])["privateKeyPath"] == "/etc/keyledger/private.pem"


def test_an_expired_link_is_refused_and_its_key_destroyed(server: Server) -> None:
    live, op = server.live, server.op
    swept = provision(server)
    visited = provision(server)
    also = provision(server)
    ledger, _, projector, clock = build_store(live.settings)
    try:
        index = SqlShareIndex(projector.engine, bundle_index)
        desk = DockerBundles(ledger, Ed25519KeyMaker(), index, clock, NoFailures())  # type: ignore[arg-type]
        later = clock.now_ms() + 15 * 60_000 + 1000
        done = desk.expire_due(later)
        assert swept["bundleId"] in done and also["bundleId"] in done
        assert desk.expire_due(later) == []  # once only
    finally:
        ledger.close()
        projector.engine.dispose()
    for made in (swept, also):
        refused = httpx.get(made["url"])
        assert refused.status_code == 410 and "expired" in refused.json()["error"]
        assert_key_destroyed(live, made["url"].rsplit("/", 1)[1])
    assert "docker_bundle_expire" in actions(op, swept["bundleId"])
    # A visitor after 15 minutes, before any sweep, expires the bundle itself.
    ledger, _envelope, projector, clock = build_store(live.settings)
    try:
        index = SqlShareIndex(projector.engine, bundle_index)
        late = Later(clock.now_ms() + 15 * 60_000 + 1000)
        desk = DockerBundles(ledger, Ed25519KeyMaker(), index, late, NoFailures())  # type: ignore[arg-type]
        with pytest.raises(Gone):
            desk.download(visited["url"].rsplit("/", 1)[1], live.url, "127.0.0.1")
    finally:
        ledger.close()
        projector.engine.dispose()
    assert httpx.get(visited["url"]).status_code == 410


def test_racing_downloads_get_one_zip(server: Server) -> None:
    made = provision(server)
    results: list[httpx.Response] = []
    start = threading.Barrier(4)

    def fetch() -> None:
        start.wait()
        results.append(httpx.get(made["url"], timeout=60))

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 410, 410, 410]
    KEYS.extend(
        zipfile.ZipFile(io.BytesIO(r.content)).read("private.pem")
        for r in results
        if r.status_code == 200
    )
    assert actions(server.op, made["bundleId"]).count("docker_bundle_download") == 1


def test_unknown_links_are_404(server: Server) -> None:
    for token in ["0" * 48, "x" * 48, "short"]:
        answer = httpx.get(f"{server.live.url}/v1/docker/bundle/{token}")
        assert answer.status_code == 404 and set(answer.json()) == {"error"}


@pytest.mark.parametrize(
    "change",
    [
        {"secretIds": []},
        {"secretIds": ["sk_0000000000"]},
        {"mountPath": "relative/path"},
        {"mountPath": "/etc/../root"},
        {"name": "x" * 256},
        {"projectId": "proj_0000000000"},
    ],
)
def test_bad_input_is_refused_and_nothing_made(server: Server, change: dict[str, Any]) -> None:
    op = server.op
    before = op.get("/v1/admin/machines")
    body = {"projectId": server.project, "secretIds": [server.granted], **change}
    answer = op.http.post("/v1/admin/docker/provision", json=body)
    assert answer.status_code in (400, 404) and set(answer.json()) == {"error"}
    assert op.get("/v1/admin/machines") == before


def test_a_secret_of_another_project_is_refused(server: Server) -> None:
    op = server.op
    elsewhere = op.secret(op.project("elsewhere"), "FOREIGN", "f")
    body = {"projectId": server.project, "secretIds": [server.granted, elsewhere]}
    answer = op.http.post("/v1/admin/docker/provision", json=body)
    assert answer.status_code == 400 and "not in project" in answer.json()["error"]


def test_provisioning_needs_an_operator(server: Server) -> None:
    body = {"projectId": server.project, "secretIds": [server.granted]}
    answer = httpx.post(f"{server.live.url}/v1/admin/docker/provision", json=body)
    assert answer.status_code == 401


def test_private_keys_never_reach_an_event_or_the_log(server: Server) -> None:
    assert KEYS, "run with the other tests of this module"
    stored = stored_event_bytes(server.live)
    log = server.live.log_path.read_bytes()
    for pem in KEYS:
        body = b"".join(pem.splitlines()[1:-1])
        assert body not in stored and body not in log


def assert_key_destroyed(live: LiveServer, token: str) -> None:
    """The sealed private key is still in the ledger, and can never be opened again."""
    ledger, envelope, projector, _ = build_store(live.settings)
    try:
        envelope.unseal(KeyRing.load(live.settings.data_dir / "server.key"))
        bundle = ledger.repository.get(bundle_aggregate_id(token))
        assert isinstance(bundle, DockerBundle) and bundle.status.value != "pending"
        with pytest.raises(IntegrityFailure):
            envelope.open_value(bundle.key_ref, bundle.bundle_id, bundle.sealed)
    finally:
        ledger.close()
        projector.engine.dispose()
