"""Exponential backoff for guessable credentials (operator login, unseal key).

A key (a source, an account) gets `free` failures; after that each further attempt
must wait 1 s, 2 s, 4 s … (capped) after the last failure. An attempt made while it
must wait is refused (429 with Retry-After) *before* the credential is checked, so
it costs no Argon2id hash and does not lengthen the wait. A key quiet for an hour is
forgotten. The state lives in memory, per process: a restart clears it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from application.failures import source_key
from application.ports import Clock
from domain.errors import TooManyAttempts

FORGET_AFTER_MS = 3600_000
MAX_KEYS = 10_000


@dataclass
class _Entry:
    failures: int
    last_ms: int


class Backoff:
    def __init__(
        self, clock: Clock, *, free: int, max_delay_ms: int, base_delay_ms: int = 1000
    ) -> None:
        self.clock = clock
        self.free = free
        self.base_delay_ms = base_delay_ms
        self.max_delay_ms = max_delay_ms
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def delay_ms(self, failures: int) -> int:
        if failures < self.free:
            return 0
        return int(min(self.max_delay_ms, self.base_delay_ms * 2 ** min(failures - self.free, 40)))

    def wait_ms(self, key: str) -> int:
        """How long `key` must still wait before its next attempt (0: go ahead)."""
        now = self.clock.now_ms()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0
            if now - entry.last_ms >= FORGET_AFTER_MS:
                del self._entries[key]
                return 0
            return max(0, entry.last_ms + self.delay_ms(entry.failures) - now)

    def check(self, key: str) -> None:
        wait = self.wait_ms(key)
        if wait > 0:
            raise TooManyAttempts(-(-wait // 1000))

    def failed(self, key: str) -> None:
        now = self.clock.now_ms()
        with self._lock:
            entry = self._entries.pop(key, None) or _Entry(failures=0, last_ms=now)
            entry.failures += 1
            entry.last_ms = now
            self._entries[key] = entry  # most recent last: the oldest go first
            while len(self._entries) > MAX_KEYS:
                self._entries.popitem(last=False)

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


class LoginThrottle:
    """Per source and per account; the owner cannot be locked out for long.

    A source gets 5 free failures, then waits up to 15 min. The account gets 20 free
    failures from all sources together, then waits at most 60 s, and never at an
    address that has logged in to it since this process started. So a guesser at
    another address can delay the owner by at most a minute per guess it spends (and
    its own address soon waits far longer), and not at all at the owner's usual one.
    """

    KNOWN_PER_ACCOUNT = 32

    def __init__(self, clock: Clock) -> None:
        self.sources = Backoff(clock, free=5, max_delay_ms=15 * 60_000)
        self.accounts = Backoff(clock, free=20, max_delay_ms=60_000)
        self._known: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def check(self, account: str, source_ip: str) -> None:
        source = source_key(source_ip)
        wait = self.sources.wait_ms(source)
        if not self._is_known(account, source):
            wait = max(wait, self.accounts.wait_ms(account))
        if wait > 0:
            raise TooManyAttempts(-(-wait // 1000))

    def failed(self, account: str, source_ip: str) -> None:
        self.sources.failed(source_key(source_ip))
        self.accounts.failed(account)

    def succeeded(self, account: str, source_ip: str) -> None:
        source = source_key(source_ip)
        self.sources.clear(source)
        self.accounts.clear(account)
        with self._lock:
            known = [s for s in self._known.get(account, []) if s != source]
            self._known[account] = [source, *known][: self.KNOWN_PER_ACCOUNT]

    def _is_known(self, account: str, source: str) -> bool:
        with self._lock:
            return source in self._known.get(account, [])
