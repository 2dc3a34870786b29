"""The data directory is the vault at rest: nothing in it is readable by other users."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Operator

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def open_to_others(data_dir: Path) -> dict[str, str]:
    """Every path under the data dir that group or others could use, with its mode."""
    paths = [data_dir, *data_dir.rglob("*")]
    return {
        str(p.relative_to(data_dir)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in paths
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    }


def use(live: LiveServer) -> None:
    """Initialise and write: the SQLite files, their -wal/-shm files, keys, setup code."""
    op = Operator(live)
    op.secret(op.project("payments"), "stripe-key", "v")
    op.close()


def test_every_file_keyledger_writes_is_owner_only(live: LiveServer) -> None:
    use(live)
    names = {p.name for p in live.settings.data_dir.iterdir()}
    assert {"ledger.sqlite", "state.sqlite", "access.sqlite", "server.key"} <= names
    assert any(name.endswith("-wal") for name in names), names
    assert open_to_others(live.settings.data_dir) == {}


def test_a_data_dir_open_to_others_is_refused_unless_allowed(live: LiveServer) -> None:
    data_dir = live.settings.data_dir
    live.stop()
    shutil.rmtree(data_dir)
    data_dir.mkdir()
    data_dir.chmod(0o755)  # made by someone else, the usual way

    with pytest.raises(RuntimeError, match="server exited"):
        live.start()
    log = " ".join(live.log_path.read_text().split())  # the console wraps long lines
    assert f"The data directory {data_dir} is open to other users (mode 0755)" in log
    assert f"chmod 700 {data_dir}" in log and "--allow-open-data-dir" in log
    assert list(data_dir.iterdir()) == []  # refused before writing anything

    live.start("--allow-open-data-dir")
    use(live)
    assert open_to_others(data_dir) == {".": "0o755"}  # only what the operator chose
