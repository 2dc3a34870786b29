"""Operator accounts: first-run setup, password login, server-side sessions.

Session tokens are random 32-byte strings shown once; only their SHA-256 is stored.
Every failed login or setup attempt is audited as `auth_failure` in the access log
(folded per source, never a vault event); logins are throttled per source and account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from application.failures import AuthFailures
from application.ledger import Ledger
from application.ports import Clock, PasswordHasher, SessionRecord, SessionStore, SetupCodeStore
from application.throttle import LoginThrottle
from domain.audit import ActorKind, AuditStamp
from domain.errors import AuthenticationFailed, Conflict, InvalidInput, TooManyAttempts
from domain.passwords import check_password_policy
from domain.vault import Vault

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
_BAD_LOGIN = "Invalid email or password"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise InvalidInput("Email address is not valid")
    return email


class OperatorAccounts:
    def __init__(
        self,
        ledger: Ledger,
        hasher: PasswordHasher,
        sessions: SessionStore,
        setup_code: SetupCodeStore,
        clock: Clock,
        session_ttl_ms: int,
        failures: AuthFailures,
        throttle: LoginThrottle,
        idle_ms: int = 30 * 60 * 1000,
    ) -> None:
        self.ledger = ledger
        self.hasher = hasher
        self.sessions = sessions
        self.setup_code = setup_code
        self.clock = clock
        self.session_ttl_ms = session_ttl_ms
        self.failures = failures
        self.throttle = throttle
        self.idle_ms = idle_ms
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    def initialise(self, code: str, email: str, password: str, source_ip: str) -> Vault:
        if self.ledger.vault() is not None:
            raise Conflict("Setup code already used: the vault is initialised")
        expected = self.setup_code.read()
        if expected is None or not hmac.compare_digest(code.strip().encode(), expected.encode()):
            self.failures.record(source_ip, "wrong setup code")
            raise AuthenticationFailed("Setup code is not valid")
        email = validate_email(email)
        check_password_policy(password)
        vault = self.ledger.create_vault(
            email,
            self.hasher.hash(password),
            AuditStamp(ActorKind.USER, source_ip, detail=f"vault initialised by {email}"),
        )
        self.setup_code.consume()
        return vault

    def login(self, email: str, password: str, source_ip: str) -> tuple[str, SessionRecord]:
        email = email.strip().lower()
        try:
            self.throttle.check(email, source_ip)
        except TooManyAttempts:
            # Refused before the password is checked: no Argon2id hash is paid for.
            self.failures.record(source_ip, "operator login throttled")
            raise
        vault = self.ledger.vault()
        known = vault is not None and hmac.compare_digest(
            email.encode(), vault.owner_email.encode()
        )
        # Always pay for one Argon2id verification, so timing does not reveal the email.
        encoded = vault.password_hash if (known and vault is not None) else self._dummy_hash
        if not (self.hasher.verify(password, encoded) and known and vault is not None):
            self.throttle.failed(email, source_ip)
            self.failures.record(source_ip, "operator login failed")
            raise AuthenticationFailed(_BAD_LOGIN)
        self.throttle.succeeded(email, source_ip)
        token = secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        record = SessionRecord(
            session_id=secrets.token_hex(8),
            user_id=vault.owner_id,
            created_ms=now,
            expires_ms=now + self.session_ttl_ms,
            revoked=False,
        )
        self.sessions.add(token_hash(token), record)
        self.ledger.record(
            "user_login",
            AuditStamp(ActorKind.USER, source_ip, user_id=vault.owner_id, detail="session opened"),
        )
        return token, record

    def session(self, token: str) -> SessionRecord:
        record = self.sessions.find(token_hash(token))
        if record is None or record.revoked or record.expires_ms <= self.clock.now_ms():
            raise AuthenticationFailed("Session is missing, expired or revoked; log in again")
        return record

    def logout(self, record: SessionRecord, source_ip: str) -> None:
        self.sessions.revoke(record.session_id)
        self.ledger.record(
            "user_logout",
            AuditStamp(ActorKind.USER, source_ip, user_id=record.user_id, detail="session closed"),
        )

    # -- the dashboard's sessions: the same sessions, with an idle timeout too -----

    def open_dashboard(
        self, email: str, password: str, source_ip: str
    ) -> tuple[str, SessionRecord]:
        """`login`, and the session marked as the dashboard's: only such a session
        opens pages, and it dies after `idle_ms` without a page request."""
        token, record = self.login(email, password, source_ip)
        self.sessions.seen(record.session_id, record.created_ms)
        return token, record

    def dashboard_session(self, token: str, *, touch: bool = True) -> SessionRecord:
        """The session of a dashboard request. An idle one is revoked on the server (its
        token then fails on the API too). `touch=False` for the live stream, which must
        not keep an unattended page logged in."""
        record = self.session(token)
        now = self.clock.now_ms()
        if record.last_seen_ms is None:
            raise AuthenticationFailed("Not a dashboard session; log in through the form")
        if now - record.last_seen_ms >= self.idle_ms:
            self.sessions.revoke(record.session_id)
            raise AuthenticationFailed("Session idle for too long; log in again")
        # One write per stretch of activity, not per request.
        if touch and now - record.last_seen_ms >= min(30_000, self.idle_ms // 4):
            self.sessions.seen(record.session_id, now)
        return record

    def logout_everywhere(self, record: SessionRecord, source_ip: str) -> int:
        """Revoke every session of this operator, dashboard and CLI, in every process."""
        closed = self.sessions.revoke_user(record.user_id)
        self.ledger.record(
            "user_logout",
            AuditStamp(
                ActorKind.USER,
                source_ip,
                user_id=record.user_id,
                detail=f"logged out everywhere: {closed} session(s) closed",
            ),
        )
        return closed
