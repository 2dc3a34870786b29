"""What a machine signs for one request; the server and the host CLI share this one definition."""

from __future__ import annotations

import hashlib


def signing_payload(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """`METHOD:path:timestamp:nonce:sha256hex(body)`, UTF-8, over the exact bytes sent."""
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method}:{path}:{timestamp}:{nonce}:{body_hash}".encode()
