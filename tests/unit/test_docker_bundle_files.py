"""The Docker bundle's ZIP and mount path, without a server."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from application.dockerbundles import bundle_files
from domain.audit import ActorKind, AuditStamp
from domain.bundle import validate_mount_path
from domain.errors import InvalidInput
from domain.project import Project
from infrastructure.crypto.signatures import Ed25519KeyMaker


@pytest.mark.parametrize("path", ["/etc/keyledger", "/etc/keyledger/", "/run/kl-1/x.y"])
def test_absolute_plain_mount_paths_are_taken(path: str) -> None:
    assert validate_mount_path(path) == path.rstrip("/")


@pytest.mark.parametrize(
    "path",
    ["etc/keyledger", "", "/etc/../root", "/a//b", "/a b", "/a;touch", "/$(id)", "/" + "a" * 300],
)
def test_other_mount_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        validate_mount_path(path)


def test_the_key_maker_makes_a_pem_the_sdks_load() -> None:
    public, pem = Ed25519KeyMaker().new_ed25519()
    key = load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey) and pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == public


def test_the_zip_holds_three_owner_only_files() -> None:
    stamp = AuditStamp(ActorKind.USER, "127.0.0.1")
    project = Project(
        project_id="proj_abcdefghij", name="web", description="", key_ref="k", audit=stamp
    )
    archive = bundle_files(
        "m-1", "api", "vault_x", "http://localhost:8420", "/etc/keyledger", project, b"PEM"
    )
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.namelist() == ["identity.json", "private.pem", "cli.json"]
        assert all(i.external_attr >> 16 == 0o600 for i in opened.infolist())
        identity = json.loads(opened.read("identity.json"))
        assert identity["privateKeyPath"] == "/etc/keyledger/private.pem"
        assert json.loads(opened.read("cli.json"))["projects"] == {"web": "proj_abcdefghij"}
        assert opened.read("private.pem") == b"PEM"
