"""Two API processes on PostgreSQL race to redeem the last uses of one enrollment
token: exactly `maxUses` machines come out, every other attempt gets 409."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.conftest import LiveServer, module_server
from tests.e2e.machine_helpers import Operator

MAX_USES = 4  # lowered for the test; the product allows up to 10,000
ATTEMPTS = 24


@pytest.fixture
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        live = module_server(stack, "postgres", tmp_path_factory)
        live.own_group = True
        live.start("--workers", "2")
        yield live


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@pytest.mark.postgres
def test_the_last_use_is_won_once_across_two_processes(two_workers: LiveServer) -> None:
    op = Operator(two_workers)
    project = op.project("race")
    secret = op.secret(project, "S", "v")
    created = op.post(
        "/v1/admin/enrollments",
        {"name": "race", "projectIds": [project], "secretIds": [secret], "maxUses": MAX_USES},
        expect=201,
    )
    vault_id = op.get("/v1/admin/whoami")["vaultId"]
    url = f"{two_workers.url}/v1/{vault_id}/enroll/register"

    def attempt(n: int) -> int:
        body = {"token": created["token"], "publicKey": public_key(), "hostname": f"h{n}"}
        # A fresh connection each: the two worker processes share the port.
        return httpx.post(url, json=body, timeout=60).status_code

    with ThreadPoolExecutor(ATTEMPTS) as pool:
        codes = list(pool.map(attempt, range(ATTEMPTS)))
    assert sorted(codes) == [201] * MAX_USES + [409] * (ATTEMPTS - MAX_USES), codes
    shown = op.get(f"/v1/admin/enrollments/{created['id']}")
    assert shown["uses"] == MAX_USES and shown["status"] == "exhausted"
    machines = op.get("/v1/admin/machines")["machines"]
    assert len(machines) == MAX_USES
    assert all(m["projects"] == [project] and m["grantCount"] == 1 for m in machines)
    op.close()
