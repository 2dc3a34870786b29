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
