"""Signed machine requests, byte-compatible with the official `sikkerkey` SDKs.

Each request carries X-Machine-Id, X-Timestamp (unix seconds), X-Nonce (base64 of
16 random bytes) and X-Signature: base64 Ed25519 over the server's own
`domain.requestsigning.signing_payload`, where `path` has no query string and `body` is
exactly the bytes sent (empty when there is none).

The transport is `transport.Connection` (sockets, no HTTP library): one signed request
is all `get` needs, and every container start pays for what this module imports.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import TYPE_CHECKING, Any

from domain.requestsigning import signing_payload
from interfaces.cli.plain import VERSION, one_line
from interfaces.cli.transport import Connection, TransportError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

USER_AGENT = f"keyledger-cli/{VERSION}"
TIMEOUT = 15.0
RETRYABLE = {429, 503}
BACKOFF_SECONDS = (1.0, 2.0, 4.0)


class MachineError(Exception):
    """A signed request that got no 2xx answer (status 0: the server was not reached)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        if self.status == 0:
            return self.message
        return f"{self.message} (HTTP {self.status})"


def new_nonce() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def signed_headers(
    key: Ed25519PrivateKey,
    machine_id: str,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The authentication headers (plus Content-Type when there is a body)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or new_nonce()
    payload = signing_payload(method.upper(), path, timestamp, nonce, body)
    headers = {
        "User-Agent": USER_AGENT,
        "X-Machine-Id": machine_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": base64.b64encode(key.sign(payload)).decode(),
    }
    if body:
        headers["Content-Type"] = "application/json"
    return headers


def encode_body(body: Any) -> bytes:
    """The JSON bytes of a body (None: no body at all, as the SDK sends it)."""
    if body is None:
        return b""
    return json.dumps(body).encode()


def _error_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return one_line(raw.decode(errors="replace")) or "request failed"
    message = data.get("error") if isinstance(data, dict) else None
    return one_line(str(message)) if message else "request failed"


class MachineClient:
    """Signs each attempt afresh (new timestamp and nonce) and retries 429/503 like the SDK."""

    def __init__(
        self, api_url: str, machine_id: str, key: Ed25519PrivateKey, *, retries: int = 3
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.machine_id = machine_id
        self.key = key
        self.retries = retries
        self._connection: Connection | None = None

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int, bytes]:
        if self._connection is None:
            self._connection = Connection(self.api_url)
        return self._connection.send(method, path, body, headers, timeout)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def call(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> Any:
        """`timeout` overrides the default for one call (the agent's long-poll)."""
        content = encode_body(body)
        last: MachineError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
            headers = signed_headers(self.key, self.machine_id, method, path, content)
            try:
                status, raw = self._send(
                    method, path, content, headers, TIMEOUT if timeout is None else timeout
                )
            except TransportError as exc:
                last = MachineError(
                    f"Cannot reach the keyledger server at {self.api_url}: {exc}", 0
                )
                continue
            if status < 300:
                try:
                    return json.loads(raw)
                except ValueError:
                    raise MachineError("The server sent a malformed answer", 0) from None
            last = MachineError(_error_message(raw), status)
            if status not in RETRYABLE:
                raise last
        assert last is not None
        raise last

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body)
