"""Operator accounts through the full composition root, on SQLite and PostgreSQL."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from application.accounts import token_hash, validate_email
from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, Conflict, IntegrityFailure, InvalidInput, Sealed
from infrastructure.crypto.keyring import KeyRing
from infrastructure.eventstore.chain import verify_chain
from infrastructure.settings import Settings
from interfaces.bootstrap import Services, build

EMAIL = "operator@example.com"
PASSWORD = "correct horse 9 battery!"
IP = "203.0.113.9"


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = build(settings)
    try:
        yield services
    finally:
        services.close()


def setup_code(services: Services) -> str:
    code = services.setup_code.read()
    assert code is not None
    return code


def audit(services: Services) -> list[dict]:
    services.catch_up()
    return services.read_models.audit_tail(limit=1000)


def ledger_actions(services: Services) -> list[str]:
    return [e["action"] for e in audit(services) if e["log"] == "ledger"]


def initialise(services: Services) -> None:
    services.accounts.initialise(setup_code(services), EMAIL, PASSWORD, IP)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_writes_setup_code_and_server_key_0600(services: Services) -> None:
    data_dir = services.settings.data_dir
    code_file = data_dir / "setup-code"
    key_file = data_dir / "server.key"
    assert code_file.exists()
    assert mode(code_file) == 0o600
    assert key_file.exists()
    assert mode(key_file) == 0o600
    assert mode(data_dir) & 0o077 == 0
    code = setup_code(services)
    assert len(code) == 4 * 6 + 3
    assert code_file.read_text() == code + "\n"
    assert len(KeyRing.load(key_file).keys) == 1
    assert not services.envelope.is_sealed
    assert services.ledger.vault() is None


def test_initialise_with_wrong_code_is_refused_and_audited(services: Services) -> None:
    with pytest.raises(AuthenticationFailed):
        services.accounts.initialise("0000-0000-0000-0000", EMAIL, PASSWORD, IP)
    with pytest.raises(AuthenticationFailed):
        services.accounts.initialise("", EMAIL, PASSWORD, IP)
    assert services.ledger.vault() is None
    assert services.setup_code.read() is not None  # not consumed
    entries = audit(services)
    assert [e["action"] for e in entries] == ["auth_failure", "auth_failure"]
    first = entries[0]
    assert (first["actorKind"], first["sourceIp"], first["severity"]) == (
        "external",
        IP,
        "medium",
    )
    assert first["detail"] == "wrong setup code"
    assert {e["log"] for e in entries} == {"access"}  # never a vault event
    assert PASSWORD not in repr(entries)


def test_initialise_with_right_code_creates_the_vault(services: Services) -> None:
    code = setup_code(services)
    vault = services.accounts.initialise("  " + code + "\n", " Operator@Example.COM ", PASSWORD, IP)
    assert ids.is_public_id(ids.VAULT, vault.vault_id)
    assert ids.is_public_id(ids.USER, vault.owner_id)
    assert vault.owner_email == EMAIL
    assert vault.password_hash.startswith("$argon2id$")
    assert PASSWORD not in vault.password_hash
    assert services.setup_code.read() is None
    assert not (services.settings.data_dir / "setup-code").exists()
    stored = services.ledger.vault()
    assert stored is not None
    assert stored.owner_id == vault.owner_id
    entries = audit(services)
    assert [e["action"] for e in entries] == ["vault_create"]
    assert entries[0]["userId"] == vault.owner_id
    assert entries[0]["severity"] == "high"


def test_second_initialise_is_a_conflict(services: Services) -> None:
    code = setup_code(services)
    initialise(services)
    with pytest.raises(Conflict):
        services.accounts.initialise(code, "someone@example.com", PASSWORD, IP)
    with pytest.raises(Conflict):
        services.ledger.create_vault("x@example.com", "h", AuditStamp.system())
    assert services.ledger.vault().owner_email == EMAIL  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "password",
    ["short1!", "abcdefghijk!", "abcdefghijk1", "abcdefghij 1", "x" * 1024 + "1!"],
)
def test_weak_passwords_are_rejected(services: Services, password: str) -> None:
    with pytest.raises(InvalidInput):
        services.accounts.initialise(setup_code(services), EMAIL, password, IP)
    assert services.ledger.vault() is None
    assert services.setup_code.read() is not None  # the code is still usable
    initialise(services)
    assert services.ledger.vault() is not None


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "two@@example.com", "sp ace@x.org"])
def test_invalid_email_is_rejected(services: Services, email: str) -> None:
    with pytest.raises(InvalidInput):
        services.accounts.initialise(setup_code(services), email, PASSWORD, IP)
    assert services.ledger.vault() is None


def test_validate_email_normalises() -> None:
    assert validate_email("  A.B@Example.Org ") == "a.b@example.org"
    with pytest.raises(InvalidInput):
        validate_email("a" * 65 + "@example.org")


def test_login_with_wrong_password_is_refused_and_audited(services: Services) -> None:
    initialise(services)
    for email, password in (
        (EMAIL, PASSWORD + "x"),
        (EMAIL, ""),
        ("other@example.com", PASSWORD),
    ):
        with pytest.raises(AuthenticationFailed) as info:
            services.accounts.login(email, password, IP)
        assert str(info.value) == "Invalid email or password"
    actions = [e["action"] for e in audit(services)]
    assert actions == ["vault_create", "auth_failure", "auth_failure", "auth_failure"]
    assert ledger_actions(services) == ["vault_create"]
    failure = audit(services)[-1]
    assert (failure["detail"], failure["sourceIp"]) == ("operator login failed", IP)


def test_login_before_initialise_is_refused_and_audited(services: Services) -> None:
    with pytest.raises(AuthenticationFailed):
        services.accounts.login(EMAIL, PASSWORD, IP)
    assert [e["action"] for e in audit(services)] == ["auth_failure"]


def test_login_logout_session_life_cycle(services: Services) -> None:
    initialise(services)
    token, record = services.accounts.login(" OPERATOR@example.com", PASSWORD, IP)
    owner = services.ledger.vault().owner_id  # type: ignore[union-attr]
    assert len(token) >= 43
    assert record.user_id == owner
    assert not record.revoked
    assert record.expires_ms - record.created_ms == services.settings.session_ttl_seconds * 1000

    session = services.accounts.session(token)
    assert session == record
    # Only the hash of the token is stored.
    assert services.accounts.sessions.find(token) is None
    assert services.accounts.sessions.find(token_hash(token)) == record
    with pytest.raises(AuthenticationFailed):
        services.accounts.session(token + "x")
    with pytest.raises(AuthenticationFailed):
        services.accounts.session("")

    other_token, _other = services.accounts.login(EMAIL, PASSWORD, IP)
    assert other_token != token

    services.accounts.logout(session, IP)
    with pytest.raises(AuthenticationFailed):
        services.accounts.session(token)
    # Logging out one session leaves the other open.
    assert services.accounts.session(other_token).user_id == owner

    actions = [e["action"] for e in audit(services)]
    assert actions == ["vault_create", "user_login", "user_login", "user_logout"]
    logout = audit(services)[-1]
    assert (logout["userId"], logout["actorKind"]) == (owner, "user")
    assert token not in repr(audit(services))


def test_expired_session_is_refused(settings: Settings) -> None:
    services = build(replace(settings, session_ttl_seconds=0))
    try:
        initialise(services)
        token, _record = services.accounts.login(EMAIL, PASSWORD, IP)
        with pytest.raises(AuthenticationFailed):
            services.accounts.session(token)
    finally:
        services.close()


def test_restart_keeps_vault_sessions_and_key(settings: Settings) -> None:
    first = build(settings)
    try:
        initialise(first)
        token, _ = first.accounts.login(EMAIL, PASSWORD, IP)
        project = first.ledger.create_project("P", "", AuditStamp(ActorKind.USER, IP))
        secret = first.ledger.create_secret(
            project.project_id, "S", AuditStamp(ActorKind.USER, IP), value="v4lue"
        )
    finally:
        first.close()
    second = build(settings)
    try:
        assert not second.envelope.is_sealed  # the same server.key is loaded
        assert second.setup_code.read() is None  # no new setup code once initialised
        assert second.accounts.session(token).user_id == second.ledger.vault().owner_id  # type: ignore[union-attr]
        assert second.ledger.reveal(secret.secret_id) == "v4lue"
        assert [p["id"] for p in second.read_models.projects()] == [project.project_id]
        report = verify_chain(second.ledger.recorder)  # type: ignore[arg-type]
        assert report.ok, report
    finally:
        second.close()


def test_missing_server_key_starts_sealed(settings: Settings) -> None:
    first = build(settings)
    try:
        initialise(first)
        project = first.ledger.create_project("P", "", AuditStamp.system())
        secret = first.ledger.create_secret(
            project.project_id, "S", AuditStamp.system(), value="v4lue"
        )
    finally:
        first.close()
    key_file = settings.data_dir / "server.key"
    ring = KeyRing.load(key_file)
    key_file.unlink()
    sealed = build(settings)
    try:
        assert sealed.envelope.is_sealed
        assert not key_file.exists()  # no new key is generated over existing data
        with pytest.raises(Sealed):
            sealed.ledger.reveal(secret.secret_id)
        with pytest.raises(Sealed):
            sealed.ledger.create_secret(project.project_id, "T", AuditStamp.system(), value="x")
        with pytest.raises(Sealed):
            sealed.ledger.create_project("Q", "", AuditStamp.system())
        with pytest.raises(IntegrityFailure):
            sealed.envelope.unseal(KeyRing.generate())
        assert sealed.envelope.is_sealed
        sealed.envelope.unseal(ring)
        assert sealed.ledger.reveal(secret.secret_id) == "v4lue"
    finally:
        sealed.close()


def test_start_sealed_setting(settings: Settings) -> None:
    services = build(replace(settings, start_sealed=True))
    try:
        assert services.envelope.is_sealed
        assert not (settings.data_dir / "server.key").exists()
        # Accounts still work while sealed: the operator must be able to log in to unseal.
        initialise(services)
        token, _ = services.accounts.login(EMAIL, PASSWORD, IP)
        assert services.accounts.session(token)
    finally:
        services.close()


def test_explicit_server_key_file(settings: Settings, tmp_path: Path) -> None:
    key_file = tmp_path / "secrets" / "server.key"
    ring = KeyRing.generate()
    ring.write(key_file)
    services = build(replace(settings, server_key_file=key_file))
    try:
        assert not services.envelope.is_sealed
        assert not (settings.data_dir / "server.key").exists()
    finally:
        services.close()
    other = build(replace(settings, server_key_file=None))
    try:
        # The data dir has a check blob from `ring`, so no key is generated there.
        assert other.envelope.is_sealed
        assert not (settings.data_dir / "server.key").exists()
    finally:
        other.close()


def test_seal_and_unseal_are_recorded_on_the_vault(services: Services) -> None:
    stamp = AuditStamp(ActorKind.USER, IP, user_id="usr_aaaaaaaaaa")
    services.ledger.record_seal(True, stamp)  # no vault yet: nothing to record
    assert [e["action"] for e in audit(services)] == []
    initialise(services)
    services.ledger.record_seal(True, stamp)
    assert services.ledger.vault().sealed_by_operator  # type: ignore[union-attr]
    services.ledger.record_seal(False, stamp)
    assert not services.ledger.vault().sealed_by_operator  # type: ignore[union-attr]
    entries = audit(services)
    assert [e["action"] for e in entries] == ["vault_create", "server_seal", "server_unseal"]
    assert {e["severity"] for e in entries} == {"high"}
