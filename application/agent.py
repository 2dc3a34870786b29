"""The sync agent: applies a managed secret's pending rotation to its database.

Two-phase safety: the server never promotes a password the database has not
accepted. The agent applies, verifies with a fresh login as the managed user, and
only then confirms; on any failure it restores the live password and rejects. A
journal records the rotation in flight so a crash mid-apply is resumed at start.

Framework-free: the server, the database, the journal and time are ports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from application.agentports import (
    EXIT_FAILURE,
    EXIT_OK,
    GONE,
    RETRYABLE,
    AgentOptions,
    Journal,
    SyncError,
    SyncServer,
    parse_credentials,
)
from application.ports import DatabaseProvider, ProviderError
from domain.errors import InvalidInput
from domain.managed import Connection, ProviderType, parse_provider, validate_username

__all__ = ["AgentOptions", "Journal", "SyncAgent", "SyncError", "SyncServer", "parse_credentials"]


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Gone(_Exit):
    """403/404: the secret is deleted, access revoked or this machine is not its agent."""


class SyncAgent:
    def __init__(
        self,
        server: SyncServer,
        provider_for: Callable[[Connection], DatabaseProvider],
        journal: Journal,
        stop: threading.Event,
        log: Callable[[str], None],
        options: AgentOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server = server
        self.provider_for = provider_for
        self.journal = journal
        self.stop = stop
        self.log = log
        self.opts = options or AgentOptions()
        self.clock = clock
        self.sleep = sleep
        self.provider: DatabaseProvider | None = None
        self.managed_username = ""
        self.last_processed: str | None = None
        self.poll_interval = 10.0
        self.beat_at = 0.0
        self.db_error = ""
        self.running = False  # past the start: the server knew this machine

    # -- entry -----------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (0), the secret is gone (0) or the agent cannot work (1)."""
        try:
            self._start()
            self._loop()
        except _Exit as done:
            return done.code
        except SyncError as exc:
            self.log(f"agent: the server refused: {exc}")
            return EXIT_FAILURE
        self.log("agent: stopped")
        return EXIT_OK

    def _start(self) -> None:
        config = self._call(self.server.sync_config, config=True)
        self.managed_username = str(config.get("managedUsername") or "")
        connection = self.opts.connection or self._server_connection(config)
        interval = self.opts.poll_interval or float(config.get("pollIntervalSeconds") or 10)
        self.poll_interval = max(self.opts.poll_floor, interval)
        step = "database admin test failed"
        try:
            self.provider = self.provider_for(connection)
            self.provider.test_admin()
            self.log(f"agent: connected to {connection!r} as admin")
            step = "cannot prepare the managed user"
            self._ensure_user()
        except (ProviderError, InvalidInput) as exc:
            self.log(f"agent: {step}: {exc}")
            self._beat("error", f"{step}: {exc}")
            raise _Exit(EXIT_FAILURE) from None
        self._beat("healthy", "")
        self.running = True
        in_flight = self.journal.load()
        if in_flight is not None:
            rotation_id, phase = in_flight
            self.log(f"agent: rotation {rotation_id} was in flight ({phase}) at the last stop")
            if config.get("pendingRotationId") != rotation_id:
                self.log(
                    f"agent: {rotation_id} is no longer pending; the live password is in place"
                )
                self.journal.clear()
        self._handle(config)

    def _server_connection(self, config: dict[str, Any]) -> Connection:
        try:
            provider: ProviderType = parse_provider(str(config.get("providerType") or ""))
            return Connection.from_wire(provider, dict(config.get("connection") or {}))
        except (InvalidInput, TypeError, ValueError) as exc:
            self.log(f"agent: the server's sync config is unusable: {exc}")
            raise _Exit(EXIT_FAILURE) from None

    def _ensure_user(self) -> None:
        """The database must hold the LIVE password: the schedule owns the value."""
        user, password = self._live()
        provider = self._db()
        if not provider.user_exists(user):
            provider.create_user(user, password)
            self.log(f"agent: created database user {user} with the live password")
            return
        try:
            provider.verify(user, password)
        except ProviderError:
            provider.set_password(user, password)
            self.log(f"agent: restored the live password of {user}")

    # -- loop ------------------------------------------------------------------

    def _loop(self) -> None:
        push, delay = True, 1.0
        while not self.stop.is_set():
            self._maybe_beat()
            try:
                if push:
                    found = self._interruptible_wait()
                    if found is not None and found != self.last_processed:
                        self._handle(self._call(self.server.sync_config, config=True))
                else:
                    self._handle(self._call(self.server.sync_config, config=True))
                    self.stop.wait(self.poll_interval)
                delay = 1.0
            except SyncError as exc:
                if push and exc.status in (404, 405):
                    # Deleted secret (sync-config 404 exits) or an older server: poll.
                    self._handle(self._call(self.server.sync_config, config=True))
                    self.log("agent: the server has no push channel; polling instead")
                    push = False
                    continue
                self._gone_or_fatal(exc)
                self.log(f"agent: {exc}; retrying in {delay:g} s")
                self.stop.wait(delay)
                delay = min(delay * 2, self.opts.max_backoff)

    def _interruptible_wait(self) -> str | None:
        """The long-poll in a thread so SIGTERM ends the agent within a second.

        Its timeout ends before the next heartbeat is due, so beats stay 30 s apart.
        """
        outcome: list[Any] = []
        due = self.opts.heartbeat_every - (self.clock() - self.beat_at)
        timeout = max(1.0, min(self.opts.wait_timeout, due))
        done = threading.Event()

        def call() -> None:
            try:
                outcome.append(self.server.wait(self.last_processed, timeout))
            except BaseException as exc:  # handed over to the agent's thread
                outcome.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=call, name="keyledger-agent-wait", daemon=True)
        worker.start()
        # Wake the moment the answer lands (a rotation is latency-sensitive); look at
        # the stop flag between slices so SIGTERM still ends the agent within ~0.2 s.
        while not done.wait(0.2):
            if self.stop.is_set():
                raise _Exit(EXIT_OK)
        result = outcome[0] if outcome else None
        if isinstance(result, BaseException):
            raise result
        return None if result is None else str(result)

    def _maybe_beat(self) -> None:
        if self.clock() - self.beat_at < self.opts.heartbeat_every:
            return
        try:
            self._db().test_admin()
        except ProviderError as exc:
            if not self.db_error:
                self.log(f"agent: the database stopped answering: {exc}")
            self.db_error = str(exc)
            self._beat("error", f"database admin test failed: {exc}")
            return
        if self.db_error:
            self.log("agent: the database answers again")
            self.db_error = ""
        self._beat("healthy", "")

    def _beat(self, status: str, error: str) -> None:
        self.beat_at = self.clock()
        try:
            self.server.heartbeat(status, error)
        except SyncError as exc:
            self._gone_or_fatal(exc)
            self.log(f"agent: heartbeat not delivered: {exc}")

    # -- one rotation ------------------------------------------------------------

    def _handle(self, config: dict[str, Any]) -> None:
        """Apply → verify → confirm one pending rotation, at most once per id."""
        rotation_id = config.get("pendingRotationId")
        if not rotation_id or rotation_id == self.last_processed:
            return
        rotation_id = str(rotation_id)
        fields = (self.opts.username_field, self.opts.password_field)
        try:
            user, new = parse_credentials(config.get("pendingValue"), self.managed_username, fields)
        except InvalidInput as exc:
            return self._reject(rotation_id, f"pending value unusable: {exc}")
        provider = self._db()
        self.log(f"agent: rotation {rotation_id} pending for {user}: applying")
        self.journal.save(rotation_id, "applying")
        try:
            self._apply(provider, user, new)
        except ProviderError as exc:
            return self._reject(rotation_id, f"apply failed: {exc}")
        self.journal.save(rotation_id, "verifying")
        if self.opts.apply_delay_ms > 0:  # drills: a window to kill the agent mid-rotation
            self.sleep(self.opts.apply_delay_ms / 1000)
        try:
            provider.verify(user, new)
        except ProviderError as exc:
            live_user, live = self._live()  # still the old value: nothing was promoted
            try:
                if user == live_user:
                    provider.set_password(user, live)
            except ProviderError as undo:
                message = f"verification failed AND rollback failed: {exc}; rollback: {undo}"
                return self._reject(rotation_id, message)
            message = f"verification failed: {exc}; the old password was restored"
            return self._reject(rotation_id, message)
        self.journal.save(rotation_id, "confirming")
        try:
            version = self._call(self.server.confirm, rotation_id)
        except _Gone:
            self._leave_live(rotation_id)
            raise
        except SyncError as exc:
            if exc.status != 409:
                raise
            self.log(f"agent: rotation {rotation_id} is no longer pending ({exc}); restoring")
            self._restore_live()
        else:
            self.log(f"agent: rotation {rotation_id} applied, verified, confirmed (v{version})")
        self._done(rotation_id)

    @staticmethod
    def _apply(provider: DatabaseProvider, user: str, password: str) -> None:
        """Set the password; create the user only if that failed because it is missing.

        The common case costs one admin connection, not an existence check first.
        """
        try:
            provider.set_password(user, password)
        except ProviderError:
            if provider.user_exists(user):
                raise
            provider.create_user(user, password)

    def _reject(self, rotation_id: str, error: str) -> None:
        self.log(f"agent: rotation {rotation_id} rejected: {error}")
        try:
            self._call(self.server.reject, rotation_id, error)
        except SyncError as exc:
            if exc.status != 409:
                raise
            self.log(f"agent: rotation {rotation_id} was no longer pending ({exc})")
        self._done(rotation_id)

    def _done(self, rotation_id: str) -> None:
        self.last_processed = rotation_id
        self.journal.clear()

    def _leave_live(self, rotation_id: str) -> None:
        """Refused at confirm (e.g. unbound): the applied value will never go live, so
        put the live one back while this machine may still read it (else the next
        agent does, at its start)."""
        try:
            user, password = self.server.live_credentials()
            user = validate_username(user or self.managed_username)
            self._db().set_password(user, password)
        except (SyncError, ProviderError, InvalidInput) as exc:
            self.log(f"agent: rotation {rotation_id} will not go live; cannot restore: {exc}")
            return
        self.log(f"agent: rotation {rotation_id} will not go live; restored the live password")
        self.journal.clear()

    def _restore_live(self) -> None:
        user, password = self._live()
        try:
            self._db().set_password(user, password)
        except ProviderError as exc:
            self.log(f"agent: could not restore the live password of {user}: {exc}")

    def _live(self) -> tuple[str, str]:
        user, password = self._call(self.server.live_credentials)
        try:
            return validate_username(user or self.managed_username), password
        except InvalidInput as exc:
            self.log(f"agent: the live value is unusable: {exc}")
            raise _Exit(EXIT_FAILURE) from None

    def _db(self) -> DatabaseProvider:
        assert self.provider is not None
        return self.provider

    # -- server calls ------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, config: bool = False) -> Any:
        """Retry while the server is unreachable; exit on 403/404 (not, or no longer,
        this secret's agent; access revoked; secret deleted)."""
        delay = 1.0
        while True:
            try:
                return fn(*args)
            except SyncError as exc:
                self._gone_or_fatal(exc, config=config)
                if exc.status not in RETRYABLE:
                    raise
                self.log(f"agent: {exc}; retrying in {delay:g} s")
            if self.stop.wait(delay):
                raise _Exit(EXIT_OK)
            delay = min(delay * 2, self.opts.max_backoff)

    def _gone_or_fatal(self, exc: SyncError, *, config: bool = False) -> None:
        # Once running, a 401 means the server no longer knows this machine: revoked.
        if exc.status in GONE or (exc.status == 401 and self.running):
            self.log(f"agent: secret deleted or access revoked ({exc}); exiting")
            raise _Gone(EXIT_OK)
        if exc.status in (400, 401) and config:
            self.log(f"agent: the server refused the sync config: {exc}")
            raise _Exit(EXIT_FAILURE)
