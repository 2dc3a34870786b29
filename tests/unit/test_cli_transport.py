"""The host CLI's small HTTP/1.1 client against the standard library's HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from interfaces.cli.transport import Connection, TransportError

PEERS: list[tuple[str, int]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        PEERS.append(self.client_address)
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size)
        if self.path.endswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a": ', b"1}"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.endswith("/close"):
            self.close_connection = True
        payload = b'{"echo": "' + body + b'", "path": "' + self.path.encode() + b'"}'
        self.send_response(403 if self.path.endswith("/no") else 200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/base"
    server.shutdown()
    server.server_close()


def test_requests_share_one_connection_and_read_every_body_shape(url: str) -> None:
    PEERS.clear()
    conn = Connection(url)
    assert conn.send("POST", "/x", b"hi", {}, 5) == (200, b'{"echo": "hi", "path": "/base/x"}')
    assert conn.send("GET", "/no", b"", {"X-A": "1"}, 5)[0] == 403
    assert conn.send("GET", "/chunked", b"", {}, 5) == (200, b'{"a": 1}')
    assert len(set(PEERS)) == 1  # one keep-alive connection for all three
    assert conn.send("GET", "/close", b"", {}, 5)[0] == 200
    assert conn.send("GET", "/y", b"", {}, 5)[0] == 200  # reopened after the server closed
    assert len(set(PEERS)) == 2
    conn.close()


def test_failures_are_transport_errors(url: str) -> None:
    with pytest.raises(TransportError):
        Connection("ftp://example.com")
    with pytest.raises(TransportError):
        Connection(url).send("GET", "/x", b"", {"X-Bad": "a\r\nInjected: 1"}, 5)
    closed = Connection("http://127.0.0.1:1")
    with pytest.raises(TransportError):
        closed.send("GET", "/x", b"", {}, 5)


def test_https_verifies_the_server_certificate(tmp_path, monkeypatch) -> None:
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem, keyfile)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}"
    try:
        with pytest.raises(TransportError):  # not trusted: refused
            Connection(url).send("GET", "/x", b"", {}, 5)
        monkeypatch.setenv("SSL_CERT_FILE", str(pem))
        assert Connection(url).send("GET", "/x", b"", {}, 5)[0] == 200
    finally:
        server.shutdown()
        server.server_close()
