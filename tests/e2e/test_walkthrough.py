"""The operator walkthrough of the ledger-core issue, end to end, on both stores.

A real server process, the real CLI in real processes; the only shortcut is a
cheaper Argon2id memory cost. Plaintext values are checked to appear nowhere:
not in CLI output, not in the server log, not in the stored events.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from tests.e2e.conftest import LiveServer

PASSWORD = "correct horse 1!"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
ROTATED = "sk_live_second_value_91d8e"


def stored_event_bytes(live: LiveServer) -> bytes:
    """Every stored event's state, straight from the database."""
    if live.settings.database_url:
        with psycopg.connect(live.settings.database_url) as conn:
            rows = conn.execute("SELECT topic, state FROM keyledger_events").fetchall()
    else:
        with sqlite3.connect(live.settings.data_dir / "ledger.sqlite") as conn:
            rows = conn.execute("SELECT topic, state FROM keyledger_events").fetchall()
    return b"\n".join(topic.encode() + b" " + bytes(state) for topic, state in rows)


def test_operator_walkthrough(live: LiveServer) -> None:
    # Setup: the CLI finds the setup code in the data dir by itself.
    setup_code = (live.settings.data_dir / "setup-code").read_text()
    assert (live.settings.data_dir / "setup-code").stat().st_mode & 0o777 == 0o600
    live.ok("init", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    again = live.cli(
        "init",
        "--email",
        "o@example.com",
        "--password-stdin",
        "--setup-code",
        setup_code,
        stdin=PASSWORD,
    )
    assert again.code == 1 and "already" in again.stderr

    bad = live.cli("login", "--email", "owner@example.com", "--password-stdin", stdin="nope\n")
    assert bad.code == 1 and "Invalid email or password" in bad.stderr
    live.ok("login", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    assert (live.home / "session.json").stat().st_mode & 0o777 == 0o600

    project = live.ok("project", "create", "payments", "--json").json()
    assert project["id"].startswith("proj_") and project["name"] == "payments"
    pid = project["id"]

    stripe = live.ok(
        "secret",
        "create",
        "--project",
        pid,
        "--name",
        "stripe-key",
        "--value-stdin",
        "--json",
        stdin=STRIPE,
    ).json()
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
        "port=5432",
        "--field",
        "password=",
        "--json",
    ).json()
    assert db["type"] == "structured" and db["fieldNames"] == "host,port,password"

    listing = live.ok("secret", "list", "--project", pid, "--json")
    secrets = {s["name"]: s for s in listing.json()}
    assert set(secrets) == {"stripe-key", "db"}
    assert set(secrets["stripe-key"]) == {
        "id",
        "projectId",
        "name",
        "type",
        "fieldNames",
        "version",
        "createdAt",
        "updatedAt",
        "note",
    }
    assert STRIPE not in listing.stdout

    sid = stripe["id"]
    assert (
        live.ok("secret", "replace", sid, "--value-stdin", "--json", stdin=ROTATED).json()[
            "version"
        ]
        == 2
    )
    live.ok("secret", "rollback", sid, "--version", "1")
    versions = live.ok("secret", "versions", sid, "--json").json()
    assert [v["version"] for v in versions["versions"]] == [1, 2, 3]
    assert versions["versions"][2]["rolledBackFrom"] == 1 and versions["current"] == 3

    # Trash: delete, restore, delete again, purge.
    live.ok("secret", "delete", sid)
    assert [s["id"] for s in live.ok("secret", "trash", "--json").json()] == [sid]
    assert sid not in live.ok("secret", "list", "--project", pid, "--json").stdout
    live.ok("secret", "restore", sid)
    live.ok("secret", "delete", sid)
    live.ok("secret", "purge", sid)
    assert live.cli("secret", "restore", sid).code == 1
    # The name is free again once purged.
    live.ok(
        "secret",
        "create",
        "--project",
        pid,
        "--name",
        "stripe-key",
        "--value-stdin",
        stdin="another",
    )

    audit = live.ok("audit", "tail", "--limit", "100", "--json").json()
    actions = [e["action"] for e in audit]
    for expected in (
        "vault_create",
        "auth_failure",
        "user_login",
        "project_create",
        "secret_create",
        "secret_update",
        "secret_delete",
        "secret_restore",
        "secret_purge",
    ):
        assert expected in actions, expected
    assert actions.count("secret_update") == 2  # replace + rollback
    failure = next(e for e in audit if e["action"] == "auth_failure")
    assert failure["sourceIp"] == "127.0.0.1" and failure["severity"] == "medium"
    times = [e["timestamp"] for e in audit]
    assert times == sorted(times)  # newest last

    verify = live.ok("audit", "verify", "--json").json()
    assert verify["intact"] is True and checked(verify) >= len(audit)

    # Seal: everything that needs a key answers 503; unseal with the key file.
    live.ok("seal")
    sealed = live.cli(
        "secret", "create", "--project", pid, "--name", "x", "--value-stdin", stdin="v"
    )
    assert sealed.code == 1 and "sealed" in sealed.stderr and "503" in sealed.stderr
    assert live.ok("status", "--json").json()["server"]["sealed"] is True
    live.ok("unseal", "--key-file", str(live.settings.data_dir / "server.key"))
    live.ok("secret", "create", "--project", pid, "--name", "x", "--value-stdin", stdin="v")

    # No plaintext anywhere: events hold ciphertext only; the log never saw a value.
    stored = stored_event_bytes(live)
    assert b"keyledger.secret.Replaced" in stored  # we are looking at the right rows
    for plaintext in (STRIPE, ROTATED, "db.internal"):
        assert plaintext.encode() not in stored
        assert plaintext not in live.log_path.read_text()
    assert PASSWORD not in live.log_path.read_text()


def checked(report: dict[str, Any]) -> int:
    """Events and access records verified, together."""
    return int(report["ledger"]["checked"]) + int(report["access"]["checked"])


def test_bad_input_changes_nothing(live: LiveServer) -> None:
    live.ok("init", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    live.ok("login", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    pid = live.ok("project", "create", "p", "--json").json()["id"]
    before = checked(live.ok("audit", "verify", "--json").json())

    cases = [
        (("project", "create", "x" * 101), None, "at most 100"),
        (
            ("secret", "create", "--project", pid, "--name", "y" * 256, "--value-stdin"),
            "v",
            "at most 255",
        ),
        (
            ("secret", "create", "--project", pid, "--name", "big", "--value-stdin"),
            "v" * (12 * 1024 + 1),
            "at most 12288 bytes",
        ),
        (
            ("secret", "create", "--project", "proj_0000000000", "--name", "n", "--value-stdin"),
            "v",
            "not found",
        ),
        (("secret", "replace", "sk_0000000000", "--value-stdin"), "v", "not found"),
        (("secret", "rollback", "sk_nonsense!", "--version", "1"), None, "not found"),
    ]
    for args, stdin, message in cases:
        result = live.cli(*args, stdin=stdin)
        assert result.code == 1, args
        assert message in result.stderr, (args, result.stderr)

    live.ok("secret", "create", "--project", pid, "--name", "dup", "--value-stdin", stdin="v")
    dup = live.cli(
        "secret", "create", "--project", pid, "--name", "dup", "--value-stdin", stdin="w"
    )
    assert dup.code == 1 and "already exists" in dup.stderr and "409" in dup.stderr

    usage = live.cli("secret", "create", "--project", pid, "--name", "n")
    assert usage.code == 2
    assert live.cli("secret", "frobnicate").code == 2

    # Only the one good create (claim + secret) was added.
    after = checked(live.ok("audit", "verify", "--json").json())
    assert after == before + 2
    names = [s["name"] for s in live.ok("secret", "list", "--project", pid, "--json").json()]
    assert names == ["dup"]


def test_audit_verify_catches_a_direct_edit(live: LiveServer) -> None:
    live.ok("init", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    live.ok("login", "--email", "owner@example.com", "--password-stdin", stdin=PASSWORD)
    live.ok("project", "create", "one")
    live.ok("project", "create", "two")
    live.ok("project", "create", "three")
    live.stop()
    target = 3  # the first project's creation
    if live.settings.database_url:
        with psycopg.connect(live.settings.database_url) as conn:
            edited = conn.execute(
                "UPDATE keyledger_events SET state = convert_to(replace("
                "convert_from(state, 'UTF8'), '\"one\"', '\"uno\"'), 'UTF8')"
                " WHERE notification_id = %s"
                " AND position('\"one\"' in convert_from(state, 'UTF8')) > 0",
                (target,),
            ).rowcount
    else:
        with sqlite3.connect(live.settings.data_dir / "ledger.sqlite") as conn:
            edited = conn.execute(
                "UPDATE keyledger_events SET state = replace(state, '\"one\"', '\"uno\"')"
                " WHERE rowid = ? AND instr(state, '\"one\"') > 0",
                (target,),
            ).rowcount
    assert edited == 1
    url = live.settings.database_url
    copy = ("--database-url", url) if url else ("--data-dir", str(live.settings.data_dir))
    result = live.cli("audit", "verify", "--offline", *copy)  # the server is stopped
    assert result.code == 1
    assert f"#{target}" in result.stderr and "edited" in result.stderr
