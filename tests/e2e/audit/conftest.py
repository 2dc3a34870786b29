"""One live server per store for the audit tests (verify, checkpoints), shared by the
package: setting a server up costs more than all of its tests. The background
checkpoint signer is slowed so only the checkpoints a test asks for appear (besides
one signed when none exists). Tamper cases undo themselves (tamper.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infrastructure.settings import Settings
from interfaces.cli import main
from tests.conftest import FAST_ARGON2_KIB, fresh_pg_database
from tests.e2e.audit.tamper import RawStore
from tests.e2e.conftest import LiveServer, prepare
from tests.e2e.machine_helpers import Operator, register_machine, signed

READS = 4


@dataclass
class Store:
    live: LiveServer
    raw: RawStore
    nowhere: Path  # the default data dir the CLI would fall back on: must stay untouched

    def cli(self, *args: str, **env: str | None) -> Any:
        base: dict[str, str | None] = {
            "KEYLEDGER_HOME": str(self.live.home),
            "KEYLEDGER_SERVER": self.live.url,
            "KEYLEDGER_DATA_DIR": None,
            "KEYLEDGER_DATABASE_URL": None,
            "XDG_DATA_HOME": str(self.nowhere),
        }
        return CliRunner().invoke(main.app, list(args), env={**base, **env})

    def copy(self) -> tuple[str, ...]:
        """`--offline` and where this server's store is, for verifying it directly."""
        url = self.live.settings.database_url
        where = ("--database-url", url) if url else ("--data-dir", str(self.live.settings.data_dir))
        return ("--offline", *where)

    def report(self, *args: str, code: int = 0) -> dict[str, Any]:
        result = self.cli("audit", "verify", "--json", *args)
        assert result.exit_code == code, result.output
        return dict(json.loads(result.stdout))


def open_store(kind: str, root: Path, stack: ExitStack) -> Store:
    """A started server on `kind` ("sqlite", "postgres") with an operator, a machine
    and READS answered reads; stopped when `stack` closes."""
    url = stack.enter_context(fresh_pg_database()) if kind == "postgres" else None
    settings = Settings(data_dir=root / "data", database_url=url, argon2_memory_kib=FAST_ARGON2_KIB)
    live = prepare(settings, root, KEYLEDGER_CHECKPOINT_SECONDS="3600")
    stack.callback(live.stop)
    live.start()
    op = Operator(live)
    stack.callback(op.close)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", "sk_live_verify_7c1d")
    machine = register_machine(live, op, "web-1", project_id=project, grants=(secret,))
    for _ in range(READS):
        assert signed(live, machine, "GET", f"/v1/secret/{secret}").send().status_code == 200
    return Store(live, RawStore(settings), root / "xdg")


@pytest.fixture(
    scope="package", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    with ExitStack() as stack:
        yield open_store(request.param, tmp_path_factory.mktemp(request.param), stack)
