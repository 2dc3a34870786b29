"""Domain aggregates and validation, exercised directly (no store, no crypto)."""

from __future__ import annotations

import string
import uuid

import pytest

from domain import ids
from domain.audit import ActorKind, AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound
from domain.names import SecretNameClaim, claim_id
from domain.passwords import MAX_LENGTH, MIN_LENGTH, check_password_policy
from domain.project import (
    MAX_DESCRIPTION,
    Project,
    validate_description,
    validate_project_name,
)
from domain.secret import (
    MAX_FIELD_NAME,
    MAX_FIELDS,
    MAX_NAME,
    MAX_NOTE,
    MAX_VALUE_BYTES,
    TRASH_RETENTION_MS,
    Secret,
    validate_field_names,
    validate_note,
    validate_secret_name,
    validate_value_size,
)
from domain.values import (
    DEFAULT_LENGTH,
    Charset,
    SealedValue,
    SecretType,
    SecretVersion,
    generate_value,
)
from domain.vault import Vault

STAMP = AuditStamp(ActorKind.USER, "203.0.113.7", user_id="usr_aaaaaaaaaa", detail="test")
T0 = 1_700_000_000_000


def sealed(tag: bytes, written_version: int) -> SealedValue:
    return SealedValue(
        ciphertext=b"ct-" + tag,
        iv=b"0" * 12,
        dek_ref="dk_" + tag.decode(),
        written_version=written_version,
    )


def make_secret(
    secret_type: SecretType = SecretType.STANDARD,
    field_names: tuple[str, ...] | None = None,
) -> Secret:
    return Secret(
        secret_id="sk_abcdefghij",
        project_id="proj_abcdefghij",
        name="DATABASE_URL",
        secret_type=secret_type,
        field_names=field_names,
        note="",
        first_version=SecretVersion(number=1, sealed=sealed(b"v1", 1), created_ms=T0),
        audit=STAMP,
    )


def topics(aggregate: object) -> list[str]:
    return [type(e).TOPIC for e in aggregate.collect_events()]  # type: ignore[attr-defined]


def replay(events: list) -> object:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


# -- secret names, values, fields, notes ------------------------------------------


@pytest.mark.parametrize("name", ["a", "x" * MAX_NAME, "with space", "ümlaut-名前"])
def test_secret_name_accepts_1_to_255_characters(name: str) -> None:
    assert validate_secret_name(name) == name


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME + 1), "bad\nname", "tab\there"])
def test_secret_name_rejects_empty_long_and_control_characters(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_secret_name(name)


def test_value_size_limit_is_12_kib_in_utf8_bytes() -> None:
    assert MAX_VALUE_BYTES == 12 * 1024
    validate_value_size("x" * MAX_VALUE_BYTES)
    validate_value_size("")
    with pytest.raises(InvalidInput):
        validate_value_size("x" * (MAX_VALUE_BYTES + 1))
    # Counted in encoded bytes, not characters: 6144 two-byte characters fit exactly,
    # one more does not although it is far fewer than 12288 characters.
    validate_value_size("é" * (MAX_VALUE_BYTES // 2))
    with pytest.raises(InvalidInput):
        validate_value_size("é" * (MAX_VALUE_BYTES // 2 + 1))


def test_field_names_must_be_unique() -> None:
    assert validate_field_names(["user", "password"]) == ("user", "password")
    with pytest.raises(InvalidInput, match="unique"):
        validate_field_names(["user", "password", "user"])


@pytest.mark.parametrize(
    "names",
    [
        [],
        [""],
        ["has space"],
        ["ctrl\x01"],
        ["x" * (MAX_FIELD_NAME + 1)],
        [f"f{i}" for i in range(MAX_FIELDS + 1)],
    ],
)
def test_field_names_rejects_invalid_sets(names: list[str]) -> None:
    with pytest.raises(InvalidInput):
        validate_field_names(names)


def test_field_names_accepts_limits() -> None:
    assert len(validate_field_names([f"f{i}" for i in range(MAX_FIELDS)])) == MAX_FIELDS
    assert validate_field_names(["x" * MAX_FIELD_NAME]) == ("x" * MAX_FIELD_NAME,)


def test_note_limit() -> None:
    assert validate_note("n" * MAX_NOTE) == "n" * MAX_NOTE
    with pytest.raises(InvalidInput):
        validate_note("n" * (MAX_NOTE + 1))


# -- secret aggregate ---------------------------------------------------------------


def test_new_secret_has_version_one_and_emits_created() -> None:
    secret = make_secret()
    assert secret.id == ids.aggregate_id("sk_abcdefghij")
    assert secret.current.number == 1
    assert secret.next_version_number() == 2
    assert not secret.in_trash
    assert not secret.purged
    assert topics(secret) == ["keyledger.secret.Created"]


def test_replace_appends_a_version() -> None:
    secret = make_secret()
    v2 = SecretVersion(number=2, sealed=sealed(b"v2", 2), created_ms=T0 + 1)
    secret.replace(v2, None, STAMP)
    assert [v.number for v in secret.versions] == [1, 2]
    assert secret.current is v2
    assert secret.find_version(1).sealed == sealed(b"v1", 1)


def test_replace_keeps_the_secret_type() -> None:
    standard = make_secret()
    v2 = SecretVersion(number=2, sealed=sealed(b"v2", 2), created_ms=T0)
    with pytest.raises(InvalidInput):
        standard.replace(v2, ("user",), STAMP)
    structured = make_secret(SecretType.STRUCTURED, ("user", "password"))
    with pytest.raises(InvalidInput):
        structured.replace(v2, None, STAMP)
    structured.replace(v2, ("user", "password", "host"), STAMP)
    assert structured.field_names == ("user", "password", "host")


def test_rollback_creates_new_version_pointing_at_old_sealed_value() -> None:
    secret = make_secret()
    secret.replace(SecretVersion(2, sealed(b"v2", 2), T0 + 1), None, STAMP)
    secret.collect_events()

    new = secret.roll_back(1, created_ms=T0 + 2, audit=STAMP)

    assert new.number == 3
    assert new.rolled_back_from == 1
    assert new.created_ms == T0 + 2
    # The old ciphertext is reused unchanged, written_version included (AAD binding).
    assert new.sealed == sealed(b"v1", 1)
    assert new.sealed.written_version == 1
    assert secret.current == new
    assert [v.number for v in secret.versions] == [1, 2, 3]
    events = secret.collect_events()
    assert [type(e).TOPIC for e in events] == ["keyledger.secret.RolledBack"]
    assert events[0].audit.detail == "rolled back to version 1"
    assert events[0].audit.user_id == STAMP.user_id


def test_rollback_to_current_version_is_a_conflict() -> None:
    secret = make_secret()
    with pytest.raises(Conflict):
        secret.roll_back(1, T0, STAMP)
    secret.replace(SecretVersion(2, sealed(b"v2", 2), T0), None, STAMP)
    secret.roll_back(1, T0, STAMP)  # now version 3 is current
    with pytest.raises(Conflict):
        secret.roll_back(3, T0, STAMP)
    assert secret.current.number == 3


def test_rollback_to_unknown_version_is_not_found() -> None:
    secret = make_secret()
    secret.replace(SecretVersion(2, sealed(b"v2", 2), T0), None, STAMP)
    with pytest.raises(NotFound):
        secret.roll_back(7, T0, STAMP)
    with pytest.raises(NotFound):
        secret.find_version(0)


def test_rollback_of_a_rollback_keeps_original_ciphertext() -> None:
    secret = make_secret()
    secret.replace(SecretVersion(2, sealed(b"v2", 2), T0), None, STAMP)
    secret.roll_back(1, T0, STAMP)  # v3 -> v1's ciphertext
    secret.replace(SecretVersion(4, sealed(b"v4", 4), T0), None, STAMP)
    v5 = secret.roll_back(3, T0, STAMP)
    assert v5.rolled_back_from == 3
    assert v5.sealed == sealed(b"v1", 1)


def test_replaying_events_reproduces_state() -> None:
    secret = make_secret()
    secret.replace(SecretVersion(2, sealed(b"v2", 2), T0 + 1), None, STAMP)
    secret.roll_back(1, T0 + 2, STAMP)
    secret.rename("NEW_NAME", STAMP)
    secret.update_note("a note", STAMP)
    secret.delete(T0 + 3, STAMP)
    secret.restore(T0 + 4, STAMP)
    events = secret.collect_events()
    copy = replay(events)
    assert isinstance(copy, Secret)
    assert copy.version == secret.version == len(events)
    assert copy.versions == secret.versions
    assert copy.name == "NEW_NAME"
    assert copy.note == "a note"
    assert copy.deleted_at_ms is None


def test_rename_validates_the_name() -> None:
    secret = make_secret()
    with pytest.raises(InvalidInput):
        secret.rename("", STAMP)
    with pytest.raises(InvalidInput):
        secret.rename("x" * (MAX_NAME + 1), STAMP)
    secret.rename("OK", STAMP)
    assert secret.name == "OK"


def test_update_note_validates_the_note() -> None:
    secret = make_secret()
    with pytest.raises(InvalidInput):
        secret.update_note("n" * (MAX_NOTE + 1), STAMP)
    assert secret.note == ""


# -- trash life cycle -------------------------------------------------------------


def test_delete_moves_to_trash_and_blocks_changes() -> None:
    secret = make_secret()
    secret.delete(T0, STAMP)
    assert secret.in_trash
    assert secret.deleted_at_ms == T0
    v2 = SecretVersion(2, sealed(b"v2", 2), T0)
    for action in (
        lambda: secret.replace(v2, None, STAMP),
        lambda: secret.roll_back(1, T0, STAMP),
        lambda: secret.rename("other", STAMP),
        lambda: secret.update_note("n", STAMP),
        lambda: secret.delete(T0 + 1, STAMP),
    ):
        with pytest.raises(Conflict):
            action()
    assert secret.deleted_at_ms == T0
    assert len(secret.versions) == 1


def test_restore_within_retention() -> None:
    secret = make_secret()
    secret.delete(T0, STAMP)
    secret.restore(T0 + TRASH_RETENTION_MS, STAMP)  # exactly 30 days is still in time
    assert not secret.in_trash


def test_restore_after_30_days_is_not_found() -> None:
    assert TRASH_RETENTION_MS == 30 * 24 * 3600 * 1000
    secret = make_secret()
    secret.delete(T0, STAMP)
    with pytest.raises(NotFound):
        secret.restore(T0 + TRASH_RETENTION_MS + 1, STAMP)
    assert secret.in_trash


def test_restore_of_a_live_secret_is_a_conflict() -> None:
    secret = make_secret()
    with pytest.raises(Conflict):
        secret.restore(T0, STAMP)


def test_purge_without_delete_is_a_conflict() -> None:
    secret = make_secret()
    with pytest.raises(Conflict):
        secret.purge(STAMP)
    assert not secret.purged


def test_purge_after_delete_and_then_nothing_works() -> None:
    secret = make_secret()
    secret.replace(SecretVersion(2, sealed(b"v2", 2), T0), None, STAMP)
    secret.delete(T0, STAMP)
    secret.purge(STAMP)
    assert secret.purged
    assert [v.number for v in secret.versions] == [2]  # history dropped
    with pytest.raises(NotFound):
        secret.purge(STAMP)
    with pytest.raises(NotFound):
        secret.restore(T0, STAMP)
    with pytest.raises(NotFound):
        secret.replace(SecretVersion(3, sealed(b"v3", 3), T0), None, STAMP)
    with pytest.raises(NotFound):
        secret.rename("x", STAMP)
    with pytest.raises(NotFound):
        secret.delete(T0, STAMP)


def test_delete_restore_purge_event_topics() -> None:
    secret = make_secret()
    secret.collect_events()
    secret.delete(T0, STAMP)
    secret.restore(T0 + 1, STAMP)
    secret.delete(T0 + 2, STAMP)
    secret.purge(STAMP)
    assert topics(secret) == [
        "keyledger.secret.Deleted",
        "keyledger.secret.Restored",
        "keyledger.secret.Deleted",
        "keyledger.secret.Purged",
    ]


def test_trash_expired() -> None:
    secret = make_secret()
    assert not secret.trash_expired(T0 + 10 * TRASH_RETENTION_MS)
    secret.delete(T0, STAMP)
    assert not secret.trash_expired(T0 + TRASH_RETENTION_MS)
    assert secret.trash_expired(T0 + TRASH_RETENTION_MS + 1)
    secret.purge(STAMP)
    assert not secret.trash_expired(T0 + TRASH_RETENTION_MS + 1)


# -- projects, vault, name claims -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("p", "p"), ("  padded  ", "padded"), ("x" * 100, "x" * 100), ("  " + "y" * 100, "y" * 100)],
)
def test_project_name_valid(raw: str, expected: str) -> None:
    assert validate_project_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "x" * 101, "line\nbreak", "nul\x00"])
def test_project_name_invalid(raw: str) -> None:
    with pytest.raises(InvalidInput):
        validate_project_name(raw)


def test_project_description_limit() -> None:
    assert validate_description("d" * MAX_DESCRIPTION) == "d" * MAX_DESCRIPTION
    with pytest.raises(InvalidInput):
        validate_description("d" * (MAX_DESCRIPTION + 1))


def test_project_create_and_update() -> None:
    project = Project(
        project_id="proj_abcdefghij",
        name="Payments",
        description="d",
        key_ref="pk_x",
        audit=STAMP,
    )
    assert project.id == ids.aggregate_id("proj_abcdefghij")
    project.update(None, "new description", STAMP)
    assert (project.name, project.description) == ("Payments", "new description")
    project.update("  Billing ", None, STAMP)
    assert (project.name, project.description) == ("Billing", "new description")
    with pytest.raises(InvalidInput):
        project.update("x" * 101, None, STAMP)
    with pytest.raises(InvalidInput):
        project.update(None, "d" * (MAX_DESCRIPTION + 1), STAMP)
    assert project.name == "Billing"
    assert topics(project) == [
        "keyledger.project.Created",
        "keyledger.project.Updated",
        "keyledger.project.Updated",
    ]


def test_vault_is_a_singleton_and_tracks_seal_state() -> None:
    vault = Vault(
        vault_id="vault_abcdefghij",
        owner_id="usr_abcdefghij",
        owner_email="op@example.com",
        password_hash="$argon2id$x",
        audit=STAMP,
    )
    assert vault.id == ids.VAULT_SINGLETON
    assert not vault.sealed_by_operator
    vault.seal(audit=STAMP)
    assert vault.sealed_by_operator
    vault.unseal(audit=STAMP)
    assert not vault.sealed_by_operator
    assert topics(vault) == [
        "keyledger.vault.Created",
        "keyledger.vault.Sealed",
        "keyledger.vault.Unsealed",
    ]


def test_name_claim_reclaim_only_after_release() -> None:
    claim = SecretNameClaim(
        project_id="proj_abcdefghij", name="DB", secret_id="sk_aaaaaaaaaa", audit=STAMP
    )
    assert claim.id == claim_id("proj_abcdefghij", "DB")
    with pytest.raises(Conflict):
        claim.reclaim("sk_bbbbbbbbbb", STAMP)
    assert claim.secret_id == "sk_aaaaaaaaaa"
    claim.release(STAMP)
    assert claim.secret_id is None
    claim.reclaim("sk_bbbbbbbbbb", STAMP)
    assert claim.secret_id == "sk_bbbbbbbbbb"
    assert topics(claim) == [
        "keyledger.name.Claimed",
        "keyledger.name.Released",
        "keyledger.name.Reclaimed",
    ]


def test_claim_ids_are_per_project_and_name() -> None:
    a = claim_id("proj_aaaaaaaaaa", "DB")
    assert a == claim_id("proj_aaaaaaaaaa", "DB")
    assert a != claim_id("proj_bbbbbbbbbb", "DB")
    assert a != claim_id("proj_aaaaaaaaaa", "db")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert claim_id("ab", "c") != claim_id("a", "bc")


# -- password policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["abcdefghij1!", "correct horse 9 battery!", "x" * (MAX_LENGTH - 2) + "1$"],
)
def test_password_policy_accepts(password: str) -> None:
    check_password_policy(password)


@pytest.mark.parametrize(
    "password",
    [
        "",
        "abcdefgh1!",  # 10 characters
        "abcdefghi1!",  # 11 characters: one short
        "abcdefghijk!",  # no digit
        "abcdefghijk1",  # no special character
        "abcdefghij 1",  # a space is not a special character
        "x" * (MAX_LENGTH - 1) + "1!",  # one over the maximum
    ],
)
def test_password_policy_rejects(password: str) -> None:
    with pytest.raises(InvalidInput):
        check_password_policy(password)


def test_password_policy_minimum_is_twelve() -> None:
    assert MIN_LENGTH == 12
    check_password_policy("a" * 10 + "1!")
    with pytest.raises(InvalidInput, match="12"):
        check_password_policy("a" * 9 + "1!")


# -- generated values -------------------------------------------------------------------


def test_generate_value_default_length_and_charset() -> None:
    value = generate_value()
    assert len(value) == DEFAULT_LENGTH == 32
    allowed = set(string.ascii_letters + string.digits + "!#$%&*+-.:=?@^_~")
    assert set(value) <= allowed


@pytest.mark.parametrize(
    ("charset", "alphabet"),
    [
        (Charset.ALPHANUMERIC, string.ascii_letters + string.digits),
        (Charset.NUMBERS, string.digits),
        (Charset.SYMBOLS, string.ascii_letters + string.digits + "!#$%&*+-.:=?@^_~"),
    ],
)
@pytest.mark.parametrize("length", [1, 7, 1024])
def test_generate_value_lengths_and_charsets(charset: Charset, alphabet: str, length: int) -> None:
    value = generate_value(length, charset)
    assert len(value) == length
    assert set(value) <= set(alphabet)


def test_generate_value_symbols_uses_more_than_alphanumerics() -> None:
    # 4096 draws from 78 symbols: the chance that none is a symbol is ~(62/78)^4096.
    value = generate_value(1024, Charset.SYMBOLS) + generate_value(1024, Charset.SYMBOLS)
    value += generate_value(1024, Charset.SYMBOLS) + generate_value(1024, Charset.SYMBOLS)
    assert set(value) - set(string.ascii_letters + string.digits)


def test_generate_value_is_random() -> None:
    assert generate_value() != generate_value()


@pytest.mark.parametrize("length", [0, -1, 1025])
def test_generate_value_rejects_bad_lengths(length: int) -> None:
    with pytest.raises(InvalidInput):
        generate_value(length, Charset.ALPHANUMERIC)


def test_generate_value_uuid() -> None:
    value = generate_value(charset=Charset.UUID)
    parsed = uuid.UUID(value)
    assert str(parsed) == value
    assert parsed.version == 4


# -- ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [ids.VAULT, ids.PROJECT, ids.SECRET, ids.USER])
def test_new_public_id_format(prefix: str) -> None:
    value = ids.new_public_id(prefix)
    assert value.startswith(prefix)
    suffix = value[len(prefix) :]
    assert len(suffix) == 10
    assert set(suffix) <= set(string.ascii_lowercase + string.digits)
    assert ids.is_public_id(prefix, value)


def test_is_public_id_rejects_malformed() -> None:
    assert ids.is_public_id(ids.SECRET, "sk_abcdefghij")
    assert not ids.is_public_id(ids.SECRET, "sk_abcdefghi")  # 9
    assert not ids.is_public_id(ids.SECRET, "sk_abcdefghijk")  # 11
    assert not ids.is_public_id(ids.SECRET, "sk_ABCDEFGHIJ")
    assert not ids.is_public_id(ids.SECRET, "proj_abcdefghij")
    assert not ids.is_public_id(ids.PROJECT, "sk_abcdefghij")
    assert not ids.is_public_id(ids.SECRET, "sk_abcdefghij\n")


def test_public_ids_are_unique() -> None:
    assert len({ids.new_public_id(ids.SECRET) for _ in range(200)}) == 200


def test_aggregate_ids_are_stable_and_kind_specific() -> None:
    assert ids.aggregate_id("sk_abcdefghij") == ids.aggregate_id("sk_abcdefghij")
    assert isinstance(ids.aggregate_id("sk_abcdefghij"), uuid.UUID)
    assert ids.aggregate_id("sk_abcdefghij") != ids.aggregate_id("proj_abcdefghij")
    assert ids.aggregate_id("sk_abcdefghij") != ids.index_id("sk_abcdefghij")
    assert ids.aggregate_id(ids.new_public_id(ids.VAULT)) != ids.VAULT_SINGLETON
    assert ids.aggregate_id("sk_abcdefghij").version == 5
