"""An orphaned worker exits even when closing its services hangs.

Seen in CI under load: a worker whose server process was SIGKILLed logged that it
stops, then hung in the in-process Dramatiq worker's shutdown and served on. The close
is now bounded; here a close that never returns stands in for that hang.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from tests.e2e.conftest import ROOT

SCRIPT = textwrap.dedent(
    """
    import threading
    from interfaces.http import app

    class HangingServices:
        def close(self):
            threading.Event().wait()  # never returns

    app.ORPHAN_CLOSE_SECONDS = 0.5
    loops = app.BackgroundLoops.__new__(app.BackgroundLoops)
    loops.services = HangingServices()
    loops.orphaned()
    raise SystemExit(3)  # not reached: orphaned() ends the process
    """
)


def test_an_orphaned_worker_exits_when_its_close_hangs() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - started < 30
    assert "the server process is gone" in done.stderr


# A worker still starting when its server is SIGKILLed: by the time it looks, its parent
# is already init. It must know the server by the pid the server named, not by whoever
# its parent happens to be at start-up (seen in CI: worker-2 of a killed server served on).
SERVER = textwrap.dedent(
    """
    import os, subprocess, sys
    from interfaces.http import app
    os.environ[app.SERVER_PID_ENV] = str(os.getpid())
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    os._exit(0)  # gone before the worker has started
    """
)
LATE_WORKER = textwrap.dedent(
    """
    import os, sys, threading, time
    from pathlib import Path
    from interfaces.http import app
    server = int(os.environ[app.SERVER_PID_ENV])
    while os.getppid() == server:
        time.sleep(0.05)  # start-up outlasts the server
    loops = app.BackgroundLoops(None)
    result = Path(sys.argv[1])
    loops.orphaned = lambda: (result.write_text("orphaned"), os._exit(0))
    threading.Timer(5.0, loops.stop.set).start()
    loops.watch_parent()
    result.write_text("served on")
    """
)


def test_a_worker_that_starts_after_its_server_died_still_stops(tmp_path) -> None:
    result = tmp_path / "result"
    subprocess.run(
        [sys.executable, "-c", SERVER, LATE_WORKER, str(result)], cwd=ROOT, check=True, timeout=30
    )
    deadline = time.monotonic() + 20
    while not result.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.1)  # the write is one call; let it finish
    assert result.read_text() == "orphaned"
