"""Real local receivers for the SIEM sink tests: TCP, UDP and a Splunk HEC over HTTPS."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def octet_frames(data: bytes) -> list[bytes]:
    """RFC 6587 octet-counted frames; an incomplete last frame is dropped, as receivers do."""
    frames = []
    while data:
        length, sep, rest = data.partition(b" ")
        if not sep or not length.isdigit() or len(rest) < int(length):
            break
        frames.append(rest[: int(length)])
        data = rest[int(length) :]
    return frames


def lines(data: bytes) -> list[bytes]:
    """Newline-delimited records; a last line without its newline is incomplete."""
    return data.split(b"\n")[:-1]


@dataclass
class TcpReceiver:
    """Accepts connections one after another and keeps each connection's bytes."""

    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    connections: list[bytes] = field(default_factory=list)
    paused: threading.Event = field(default_factory=threading.Event)
    received: int = 0
    # Stop reading once this many bytes came in (once): a SIEM that stalls mid-stream,
    # however fast the sender is (pausing from the test thread would race it).
    pause_after: int | None = None

    def __post_init__(self) -> None:
        # A small window (inherited by accepted sockets): a paused receiver stops a
        # sender after a few kilobytes, as a slow SIEM would.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            chunks: list[bytes] = []
            self.connections.append(b"")
            with conn:
                while True:
                    while self.paused.is_set():
                        threading.Event().wait(0.01)
                    data = conn.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                    self.received += len(data)
                    self.connections[-1] = b"".join(chunks)
                    if self.pause_after is not None and self.received >= self.pause_after:
                        self.pause_after = None
                        self.paused.set()

    def close(self) -> None:
        self.sock.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made for this test run."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyledger test HEC")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "hec.pem", directory / "hec.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class HecReceiver:
    """A Splunk HEC stand-in: checks path and token, keeps the events it accepts."""

    def __init__(self, token: str, tls: tuple[Path, Path] | None) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.path == "/services/collector"
                ok = ok and self.headers.get("Authorization") == f"Splunk {token}"
                if not ok:
                    receiver.refused.append(self.path)
                    self.send_response(403)
                    self.end_headers()
                    return
                decoder, text, at = json.JSONDecoder(), body.decode(), 0
                while at < len(text):
                    event, at = decoder.raw_decode(text, at)
                    receiver.events.append(event)
                answer = b'{"text":"Success","code":0}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
