"""Kubernetes against a live server, on both stores: `GET /v1/bootstrap/<token>/k8s`
runs under `sh`, registers `k8s-{hostname}` and prints the `kubectl create secret`
command; that command, run with a fake `kubectl` that records its arguments, carries
the identity; once the operator approves and grants, the init container's script
from deploy/kubernetes/ (run here under `sh`, with the keyledger CLI as its client)
writes the granted secret to the in-memory volume."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import ROOT, STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Operator

MANIFEST = ROOT / "deploy" / "kubernetes" / "keyledger-init.yaml"
IDENTITY_KEYS = {"vault-id", "machine-id", "api-url", "machine-name", "private-key"}


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Operator]]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        yield live, op


def executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def fake_kubectl(bin_dir: Path, record: Path) -> None:
    """Writes each argument it gets, NUL-terminated, to `record`."""
    executable(bin_dir / "kubectl", f"#!/bin/sh\nprintf '%s\\0' \"$@\" > '{record}'\n")


def init_container(manifest: list[Any]) -> dict[str, Any]:
    (deployment,) = [d for d in manifest if d and d.get("kind") == "Deployment"]
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    return dict(init)


def test_the_k8s_script_registers_and_the_init_container_reads(
    server: tuple[LiveServer, Operator], tmp_path: Path
) -> None:
    live, op = server
    token = op.token()
    served = httpx.get(f"{live.url}/v1/bootstrap/{token}/k8s")
    assert served.status_code == 200 and served.text.startswith("#!/bin/sh")
    env = {**os.environ, "HOME": str(tmp_path), "KEYLEDGER_HOME": str(tmp_path / "kl")}
    ran = subprocess.run(
        ["sh"], input=served.content, cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr.decode()
    command = ran.stdout.decode().strip()
    assert command.startswith("kubectl create secret generic keyledger-identity ")
    assert "PRIVATE KEY" not in command  # the key goes by file, not through the terminal

    host = re.sub(r"[^A-Za-z0-9.-]", "", socket.gethostname())
    (machine,) = [m for m in op.get("/v1/admin/machines")["machines"] if m["name"] == f"k8s-{host}"]
    assert machine["status"] == "pending"

    record = tmp_path / "kubectl.args"
    fake_kubectl(tmp_path / "bin", record)
    path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    applied = subprocess.run(["sh", "-c", command], env={**env, "PATH": path}, timeout=30)
    assert applied.returncode == 0
    args = record.read_bytes().decode().split("\0")[:-1]
    assert args[:4] == ["create", "secret", "generic", "keyledger-identity"]
    given = dict(a.removeprefix("--from-literal=").split("=", 1) for a in args[4:-1])
    kind, _, key_file = args[-1].partition("=private-key=")
    assert kind == "--from-file" and set(given) | {"private-key"} == IDENTITY_KEYS
    assert given["machine-id"] == machine["id"] and given["api-url"] == live.url
    assert given["machine-name"] == f"k8s-{host}" and given["vault-id"].startswith("vault_")
    assert Path(key_file).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    # The operator approves and grants; the init container then reads the secret.
    project = op.project(f"k8s-{live.port}")
    secret = op.secret(project, "DB_PASSWORD", "k8s-s3cret")
    op.approve(machine["id"])
    op.add_to_project(machine["id"], project)
    op.grant(machine["id"], secret)
    identity_dir, secrets_dir = tmp_path / "identity", tmp_path / "secrets"
    identity_dir.mkdir()
    secrets_dir.mkdir()
    (identity_dir / "private-key").write_bytes(Path(key_file).read_bytes())
    executable(
        tmp_path / "bin" / "keyledger",
        f'#!/bin/sh\nexec "{sys.executable}" -m interfaces.cli.main "$@"\n',
    )
    init = init_container(list(yaml.safe_load_all(MANIFEST.read_text())))
    init_env = {
        "PATH": path,
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path / "pod-home"),
        "VAULT_ID": given["vault-id"],
        "MACHINE_ID": given["machine-id"],
        "MACHINE_NAME": given["machine-name"],
        "API_URL": given["api-url"],
        "PROJECT_ID": project,
        "IDENTITY_DIR": str(identity_dir),
        "SECRETS_DIR": str(secrets_dir),
    }
    assert init["command"] == ["/bin/sh", "-c"]
    done = subprocess.run(
        ["sh", "-c", init["args"][0]], env=init_env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    written = (secrets_dir / "app.env").read_text()
    assert "DB_PASSWORD" in written and "k8s-s3cret" in written
    assert not list((tmp_path / "pod-home").rglob("private.pem"))  # gone once used


def test_a_bad_token_gets_no_script(server: tuple[LiveServer, Operator]) -> None:
    live, _ = server
    for token in ["$(id)", "A" * 48, "0" * 47]:
        answer = httpx.get(f"{live.url}/v1/bootstrap/{token}/k8s")
        assert answer.status_code == 404 and set(answer.json()) == {"error"}


def test_a_spent_token_registers_nothing(
    server: tuple[LiveServer, Operator], tmp_path: Path
) -> None:
    live, op = server
    token = op.token()
    script = httpx.get(f"{live.url}/v1/bootstrap/{token}/k8s").content
    env = {**os.environ, "HOME": str(tmp_path), "KEYLEDGER_HOME": str(tmp_path / "kl")}
    first = subprocess.run(["sh"], input=script, env=env, capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr.decode()
    again = subprocess.run(["sh"], input=script, env=env, capture_output=True, timeout=60)
    assert again.returncode != 0 and b"registration refused (HTTP 401)" in again.stderr
    assert again.stdout == b""  # no kubectl command for a machine that does not exist


def test_the_manifest_keeps_secrets_in_memory() -> None:
    """The example parses, the init container reads the identity keys the script
    creates, and both volumes holding key or values are in-memory emptyDirs."""
    documents = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    init = init_container(documents)
    refs = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in init["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs | {"private-key"} == IDENTITY_KEYS
    (deployment,) = documents
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for name in ("keyledger-home", "keyledger-secrets"):
        assert volumes[name]["emptyDir"]["medium"] == "Memory"
    assert volumes["keyledger-identity"]["secret"]["secretName"] == "keyledger-identity"
