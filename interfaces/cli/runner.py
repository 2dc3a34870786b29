"""`keyledger run`: a child process with secrets in its environment, optionally kept fresh.

Signals (SIGINT, SIGTERM, SIGHUP) go on to the child; the child's exit code comes back
(128+n when a signal ended it). With --watch the secrets are polled and the child is
restarted (SIGTERM, SIGKILL after a grace period) when one changes, is deleted or
becomes unreadable.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from interfaces.cli.envvars import VariableError, check_environ
from interfaces.cli.plain import tell
from interfaces.cli.signing import MachineClient, MachineError

GRACE_SECONDS = 10.0
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# (variables, ids to watch), fetched afresh for each start of the child.
Fetch = Callable[[], tuple[list[tuple[str, str]], list[str]]]


def exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def min_interval() -> float:
    """The floor for --watch-interval: 10 s (tests may lower it through the environment)."""
    try:
        return max(0.1, float(os.environ.get("KEYLEDGER_RUN_WATCH_MIN_INTERVAL", "10")))
    except ValueError:
        return 10.0


@dataclass
class Supervisor:
    command: list[str]
    client: MachineClient
    fetch: Fetch
    interval: float
    child: subprocess.Popen[bytes] | None = None
    stop_signal: int | None = None
    watched: list[str] = field(default_factory=list)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_signal = signum
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def _start(self, pairs: list[tuple[str, str]]) -> None:
        env = dict(os.environ)
        env.pop("KEYLEDGER_RUN_WATCH_MIN_INTERVAL", None)
        env.update(pairs)
        try:
            self.child = subprocess.Popen(self.command, env=env)
        except OSError as exc:
            tell(f"error: cannot run {self.command[0]!r}: {exc.strerror}")
            raise SystemExit(127 if isinstance(exc, FileNotFoundError) else 126) from None

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            tell("The child ignored SIGTERM for 10 s: sending SIGKILL.")
            child.kill()
            child.wait()

    def _changed(self) -> list[str]:
        """Ids that changed, went away or became unreadable since they were fetched."""
        if not self.watched:
            return []
        try:
            changes = self.client.post("/v1/secrets/poll", {"watch": self.watched})["changes"]
        except (MachineError, KeyError, TypeError) as exc:
            tell(f"Polling for changes failed (will retry): {exc}")
            return []
        return [
            secret_id
            for secret_id, info in changes.items()
            if isinstance(info, dict)
            and info.get("status") in ("changed", "deleted", "access_denied")
        ]

    def run(self, first: list[tuple[str, str]], watched: list[str], watch: bool) -> int:
        previous = {s: signal.signal(s, self._forward) for s in FORWARDED}
        try:
            self.watched = watched
            self._start(first)
            assert self.child is not None
            while True:
                try:
                    returncode = self.child.wait(self.interval if watch else None)
                except subprocess.TimeoutExpired:
                    returncode = None
                if returncode is not None:
                    return exit_code(returncode)
                if self.stop_signal is not None:
                    continue  # the child got the signal: wait for it to finish
                changed = self._changed()
                if changed:
                    self._restart(changed)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _restart(self, changed: list[str]) -> None:
        try:
            pairs, watched = self.fetch()
            check_environ(pairs)
        except (MachineError, VariableError) as exc:
            tell(f"Secrets changed ({', '.join(changed)}) but re-fetching failed: {exc}")
            return
        tell(f"Secrets changed ({', '.join(changed)}): restarting {self.command[0]}.")
        self._stop_child()
        if self.stop_signal is not None:
            return  # we were told to stop while restarting: the loop returns its code
        self.watched = watched
        self._start(pairs)
