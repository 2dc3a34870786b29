"""A minimal HTTP/1.1 client for signed machine requests, on a keep-alive socket.

`http.client` would do, but it imports the `email` package (and `ssl` even for plain
http), a fifth of a `keyledger get`'s start-up. The server answers small JSON bodies
with Content-Length (chunked is read too); `ssl` is imported only for https.
"""

from __future__ import annotations

import io
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

MAX_HEADER = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


class TransportError(Exception):
    """The request did not get an answer (refused, reset, timed out, bad URL or reply)."""


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """`socket.create_connection`, but an ASCII name goes to the resolver as bytes: a str
    makes it load the idna codec (with stringprep and unicodedata), milliseconds for nothing."""
    name: str | bytes = host.encode() if host.isascii() else host
    last: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in socket.getaddrinfo(name, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last


def _tls() -> ssl.SSLContext:
    """Verifying TLS: the system's CAs (and SSL_CERT_FILE), plus certifi's bundle when it
    is installed, as httpx trusted it (slim images often ship no CA certificates)."""
    import ssl

    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return context
    context.load_verify_locations(certifi.where())
    return context


class Connection:
    """One connection to the server, reused while it stays open: a new one per call costs
    ~25 ms (the agent's hot path). A kept connection the server closed is reopened once."""

    def __init__(self, api_url: str) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {api_url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        default = self.port == (443 if self.https else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = name if default else f"{name}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self._sock: socket.socket | None = None
        self._reader: io.BufferedReader | None = None

    def _open(self, timeout: float) -> tuple[socket.socket, io.BufferedReader]:
        if self._sock is None or self._reader is None:
            sock = _connect(self.host, self.port, timeout)
            if self.https:
                sock = _tls().wrap_socket(sock, server_hostname=self.host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock, self._reader = sock, sock.makefile("rb")
        self._sock.settimeout(timeout)
        return self._sock, self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None

    def send(
        self, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int, bytes]:
        """(status, body); `TransportError` when no answer came."""
        for attempt in (0, 1):
            reused = self._sock is not None
            try:
                sock, reader = self._open(timeout)
                sock.sendall(self._request(method, path, body, headers))
                return self._response(reader)
            except (ConnectionError, _Dropped) as exc:
                self.close()
                if reused and attempt == 0:
                    continue  # the server dropped an idle keep-alive connection
                raise TransportError(type(exc).__name__) from None
            except (OSError, ValueError) as exc:
                self.close()
                raise TransportError(type(exc).__name__) from None
        raise TransportError("no answer")  # pragma: no cover - the loop returns or raises

    def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += ["Accept: application/json", f"Content-Length: {len(body)}"]
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError("a header holds a line break")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _response(self, reader: io.BufferedReader) -> tuple[int, bytes]:
        status_line = reader.readline(MAX_HEADER)
        if not status_line:
            raise _Dropped()
        version, _, rest = status_line.decode("latin-1").partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError("not an HTTP/1.x answer")
        status = int(rest[:3])
        fields: dict[str, str] = {}
        while True:
            line = reader.readline(MAX_HEADER)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise _Dropped()
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", "").lower():
            data = self._chunks(reader)
        elif "content-length" in fields:
            size = int(fields["content-length"])
            if not 0 <= size <= MAX_BODY:
                raise ValueError("body too large")
            data = reader.read(size)
            if len(data) != size:
                raise _Dropped()
        elif status in (204, 304) or 100 <= status < 200:
            data = b""
        else:
            data = reader.read(MAX_BODY)
            fields["connection"] = "close"
        if fields.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return status, data

    @staticmethod
    def _chunks(reader: io.BufferedReader) -> bytes:
        out = bytearray()
        while True:
            size = int(reader.readline(MAX_HEADER).split(b";")[0], 16)
            if size == 0:
                while reader.readline(MAX_HEADER) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += reader.read(size)
            reader.readline(MAX_HEADER)
            if len(out) > MAX_BODY:
                raise ValueError("body too large")


class _Dropped(Exception):
    """The connection closed before a whole answer came."""
