"""Test data for bench/evidence.py: a vault's history and its machines' reads.

Ledger events (`--ledger-share`, default 7 %) are written through the Ledger: projects,
secrets (create and one new version), machines (registered, approved, some disabled),
memberships and grants, then operator logins (AuditRecords, 500 per save) up to the
share. Access records (the rest) are bulk-inserted into kl_access_records on four
lanes, each a valid hash chain (`domain.accesschain.chain`), stamped over the last 30
days: 95 % `secret_read` by a member machine, 5 % `secret_read_denied`. The chained
rows are built once and written into each store.
"""

from __future__ import annotations

import random
import secrets as token
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from application.ledger import Ledger
from domain.accesschain import AccessEntry, chain, entry_values, lane_genesis
from domain.audit import ActorKind, AuditStamp
from domain.machine import Machine
from domain.records import AuditRecord
from infrastructure.accessstore.tables import access_lanes, access_records

OPERATOR = AuditStamp(ActorKind.USER, "198.51.100.7", user_id="usr_bench00000", detail="bench")
DAY_MS = 86_400_000
LANES = 4
CHUNK = 10_000


@dataclass
class Vault:
    """What was written: ids the access records and the queries refer to."""

    projects: list[str] = field(default_factory=list)
    secrets: list[tuple[str, str]] = field(default_factory=list)  # (secret_id, project_id)
    machines: list[str] = field(default_factory=list)


def write_vault(ledger: Ledger, ledger_events: int, seed: int = 7) -> Vault:
    """About `ledger_events` events: ~30 % vault structure, the rest logins."""
    rng = random.Random(seed)
    structure = max(40, ledger_events * 3 // 10)
    n_secrets = max(4, structure // 5)  # create (2 events) + replace + ~2 grants
    n_projects = max(2, n_secrets // 25)
    n_machines = max(4, n_secrets // 10)
    vault = Vault()
    for p in range(n_projects):
        vault.projects.append(ledger.create_project(f"svc-{p}", "", OPERATOR).project_id)
    machines = []
    for m in range(n_machines):
        machine = Machine(
            str(uuid.uuid4()), f"host-{m}", bytes(32), f"host-{m}.local", None, OPERATOR
        )
        machine.approve(OPERATOR)
        if m % 10 == 9:
            machine.disable(OPERATOR)
        machines.append(machine)
    ledger.save(*machines)
    vault.machines = [m.machine_id for m in machines]
    members: dict[str, list[str]] = {}
    projects = [ledger.project(p) for p in vault.projects]
    for project in projects:
        chosen = rng.sample(vault.machines, k=min(len(vault.machines), 4))
        for machine_id in chosen:
            project.add_machine(machine_id, OPERATOR)
        members[project.project_id] = chosen
    ledger.save(*projects)
    for s in range(n_secrets):
        project_id = vault.projects[s % n_projects]
        secret = ledger.create_secret(project_id, f"KEY_{s}", OPERATOR, value=token.token_hex(16))
        vault.secrets.append((secret.secret_id, project_id))
        ledger.replace_secret(secret.secret_id, OPERATOR, value=token.token_hex(16))
    for batch in range(0, n_secrets, 200):
        granted = []
        for secret_id, project_id in vault.secrets[batch : batch + 200]:
            secret = ledger.secret(secret_id)
            for machine_id in members[project_id][:2]:
                secret.grant(machine_id, OPERATOR)
            granted.append(secret)
        ledger.save(*granted)
    remaining = ledger_events - (ledger.recorder.max_notification_id() or 0)
    while remaining > 0:
        size = min(500, remaining)
        ledger.save(*(AuditRecord(action="user_login", audit=OPERATOR) for _ in range(size)))
        remaining -= size
    return vault


def access_rows(vault: Vault, count: int, now_ms: int, seed: int = 11) -> list[dict[str, Any]]:
    """`count` chained access records as kl_access_records rows, oldest first per lane."""
    rng = random.Random(seed)
    per_lane = [count // LANES + (1 if i < count % LANES else 0) for i in range(LANES)]
    rows: list[dict[str, Any]] = []
    names = [c.name for c in access_records.columns][2:15]  # entry_values' order
    start = now_ms - 30 * DAY_MS
    for lane_no, n in enumerate(per_lane):
        lane = f"lane{lane_no:02d}{token.token_hex(6)}"
        stamps = sorted(rng.randrange(start, now_ms) for _ in range(n))
        entries = []
        for ts in stamps:
            secret_id, project_id = rng.choice(vault.secrets)
            machine_id = rng.choice(vault.machines)
            action = "secret_read_denied" if rng.random() < 0.05 else "secret_read"
            stamp = AuditStamp(
                ActorKind.MACHINE,
                f"10.0.{rng.randrange(4)}.{rng.randrange(1, 250)}",
                machine_id=machine_id,
            )
            entries.append(
                AccessEntry.of(
                    action,
                    stamp,
                    ts,
                    secret_id=secret_id,
                    project_id=project_id,
                    nonce=token.token_hex(8),
                    secret_version=2 if action == "secret_read" else None,
                )
            )
        for link in chain(lane, 1, lane_genesis(lane), entries):
            row = dict(zip(names, entry_values(link.entry), strict=True))
            row.update(lane=lane, seq=link.seq, prev_hash=link.prev_hash, hash=link.hash)
            rows.append(row)
    return rows


def write_access(engine: Engine, rows: list[dict[str, Any]], origin: str = "bench") -> None:
    """Insert the lanes and their records, CHUNK rows per transaction."""
    lanes = sorted({r["lane"] for r in rows})
    with engine.begin() as conn:
        conn.execute(
            insert(access_lanes),
            [
                {"lane": lane, "started_ms": rows[0]["timestamp_ms"], "origin": origin}
                for lane in lanes
            ],
        )
    for offset in range(0, len(rows), CHUNK):
        with engine.begin() as conn:
            conn.execute(insert(access_records), rows[offset : offset + CHUNK])
