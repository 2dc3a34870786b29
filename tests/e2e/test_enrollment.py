"""Enrollment tokens against a live server, with the official SDK's
`bootstrap_in_memory` as the client (issue 14)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sikkerkey import SikkerKey
from sikkerkey.exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
)

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Operator


@pytest.fixture
def op(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    monkeypatch.setenv("SIKKERKEY_API_URL", live.url)
    yield Operator(live)


def vault_id(op: Operator) -> str:
    return str(op.get("/v1/admin/whoami")["vaultId"])


def scoped(op: Operator, **extra: object) -> tuple[str, str, str, dict[str, object]]:
    project = op.project("ci")
    granted = op.secret(project, "DEPLOY_KEY", "s3cr3t-deploy")
    other = op.secret(project, "OTHER", "not-for-ci")
    body = {"name": "ci", "projectIds": [project], "secretIds": [granted], **extra}
    created = op.post("/v1/admin/enrollments", body, expect=201)
    return granted, other, created["token"], created


def audit_actions(op: Operator) -> list[dict[str, object]]:
    return op.audit()


def test_sdk_enrolls_reads_and_is_never_widened(op: Operator) -> None:
    granted, other, token, created = scoped(op, namePattern="ci-{n}", maxUses=3)
    assert created["token"].startswith(created["id"] + ".")
    sdk = SikkerKey.bootstrap_in_memory(vault_id(op), token, hostname="runner-1")
    assert sdk.get_secret(granted) == "s3cr3t-deploy"
    with pytest.raises(AccessDeniedError):
        sdk.get_secret(other)  # in the project, but the token granted only one secret
    machine = op.get(f"/v1/admin/machines/{sdk.machine_id}")
    assert machine["name"] == "ci-1" and machine["status"] == "approved"
    assert machine["kind"] == "ephemeral" and machine["enrollmentId"] == created["id"]
    shown = op.get(f"/v1/admin/enrollments/{created['id']}")
    assert shown["uses"] == 1 and shown["status"] == "active" and "token" not in shown
    enrolls = [a for a in audit_actions(op) if a["action"] == "machine_enroll"]
    assert enrolls and created["id"] in str(enrolls[0]["detail"])


def test_revoked_exhausted_and_mismatched_tokens_create_nothing(op: Operator) -> None:
    vid = vault_id(op)
    _, _, token, created = scoped(
        op, maxUses=1, sourceCidr="10.0.0.0/8", hostnamePattern="^runner-"
    )
    with pytest.raises(AccessDeniedError):  # 127.0.0.1 is outside 10.0.0.0/8
        SikkerKey.bootstrap_in_memory(vid, token, hostname="runner-1")
    _, _, token, created = scoped(op, maxUses=1, hostnamePattern="^runner-")
    with pytest.raises(AccessDeniedError):
        SikkerKey.bootstrap_in_memory(vid, token, hostname="laptop")
    first = SikkerKey.bootstrap_in_memory(vid, token, hostname="runner-7")
    with pytest.raises(ConflictError):  # exhausted
        SikkerKey.bootstrap_in_memory(vid, token, hostname="runner-8")
    op.post(f"/v1/admin/enrollments/{created['id']}/revoke", expect=200)
    assert first.get_secret(first.list_secrets()[0].id)  # already enrolled: still reads
    with pytest.raises(AuthenticationError):
        SikkerKey.bootstrap_in_memory(vid, token, hostname="runner-9")
    with pytest.raises(AuthenticationError):
        SikkerKey.bootstrap_in_memory(vid, created["id"] + "." + "0" * 48)
    with pytest.raises(NotFoundError):
        SikkerKey.bootstrap_in_memory("vault_zzzzzzzzzz", token, hostname="runner-9")
    machines = op.get("/v1/admin/machines")["machines"]
    assert len(machines) == 1  # nothing created by any refusal
    assert op.get(f"/v1/admin/enrollments/{created['id']}")["status"] == "revoked"
    refusals = [str(e["detail"]) for e in audit_actions(op) if e["action"] == "auth_failure"]
    assert any(f"enrollment {created['id']} refused" in d for d in refusals), refusals


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_bad_token_options_are_refused(op: Operator) -> None:
    project = op.project("p")
    for bad in (
        {"maxUses": 0},
        {"maxUses": 10_001},
        {"hostnamePattern": "(unclosed"},
        {"hostnamePattern": "a" * 201},
        {"namePattern": "ci-{x}"},
        {"tokenLifetime": "13w0"},
        {"machineLifetime": "400d"},
        {"sourceCidr": "not-a-cidr"},
    ):
        body = {"name": "x", "projectIds": [project], **bad}
        answer = op.http.post("/v1/admin/enrollments", json=body)
        assert answer.status_code == 400, (bad, answer.text)
        assert set(answer.json()) == {"error"}
    assert op.get("/v1/admin/enrollments")["enrollments"] == []


def test_an_expired_machine_is_refused_then_disabled_by_the_sweep(op: Operator) -> None:
    granted, _, token, _ = scoped(op, machineLifetime="10s")
    sdk = SikkerKey.bootstrap_in_memory(vault_id(op), token)
    assert sdk.get_secret(granted) == "s3cr3t-deploy"
    expires = op.get(f"/v1/admin/machines/{sdk.machine_id}")["expiresAt"]
    time.sleep(max(0.0, expires / 1000 - time.time()) + 0.05)
    with pytest.raises(AuthenticationError):
        sdk.get_secret(granted)
    deadline = time.monotonic() + 60
    while op.get(f"/v1/admin/machines/{sdk.machine_id}")["enabled"]:
        assert time.monotonic() < deadline, "the sweep did not disable the machine in 60 s"
        time.sleep(0.5)
    swept = [a for a in audit_actions(op) if a["action"] == "machine_expire"]
    assert swept and swept[0]["machineId"] == sdk.machine_id
