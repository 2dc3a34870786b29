"""Each sink against a real local receiver: framing, one datagram a record, HEC over TLS."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.siemexport import SinkError
from infrastructure.siem.sinks import open_sink
from tests.siem_receivers import HecReceiver, TcpReceiver, lines, octet_frames, self_signed

RECORDS = ["one line", 'two "quoted" ] \\ é', "CEF:0|a|b|c|d|e|1|msg=x\\=y"]
TOKEN = "hec-token-0b9f"


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def tcp() -> Iterator[TcpReceiver]:
    receiver = TcpReceiver()
    yield receiver
    receiver.close()


def test_file_sink_appends_one_record_a_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"earlier\n")
    for record in RECORDS:
        sink = open_sink(f"file:{path}", "cef")
        sink.deliver([record])
        sink.flush()
        sink.close()
    assert lines(path.read_bytes()) == [b"earlier", *(r.encode() for r in RECORDS)]
    fresh = tmp_path / "fresh.log"
    open_sink(f"file:{fresh}", "jsonl").close()
    assert fresh.stat().st_mode & 0o777 == 0o600  # an audit export is not for every user


def test_tcp_sink_octet_counts_syslog(tcp: TcpReceiver) -> None:
    sink = open_sink(f"tcp://127.0.0.1:{tcp.port}", "syslog")
    sink.deliver(RECORDS[:2])
    sink.deliver(RECORDS[2:])
    sink.close()
    wait_for(lambda: [octet_frames(c) for c in tcp.connections] == [[r.encode() for r in RECORDS]])
    first = RECORDS[0].encode()
    assert tcp.connections[0].startswith(str(len(first)).encode() + b" " + first)


@pytest.mark.parametrize("fmt", ["jsonl", "cef", "ocsf"])
def test_tcp_sink_delimits_other_formats_by_newline(tcp: TcpReceiver, fmt: str) -> None:
    sink = open_sink(f"tcp://127.0.0.1:{tcp.port}", fmt)
    sink.deliver(RECORDS)
    sink.close()
    wait_for(
        lambda: bool(tcp.connections) and lines(tcp.connections[0]) == [r.encode() for r in RECORDS]
    )


def test_udp_sink_sends_one_datagram_per_record() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        sink = open_sink(f"udp://127.0.0.1:{receiver.getsockname()[1]}", "syslog")
        sink.deliver(RECORDS)
        sink.close()
        got = [receiver.recv(65536) for _ in RECORDS]
    assert got == [r.encode() for r in RECORDS]  # no framing: the datagram is the record


def test_hec_sink_over_tls_with_a_ca_file(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    hec = HecReceiver(TOKEN, (cert, key))
    try:
        url = f"https://127.0.0.1:{hec.port}/services/collector"
        records = [json.dumps({"id": str(n), "timestamp": 1_700_000_000_123 + n}) for n in range(3)]
        sink = open_sink(url, "jsonl", token=TOKEN, ca_file=cert, hostname="vault-1")
        sink.deliver(records)
        sink.close()
        assert [e["event"]["id"] for e in hec.events] == ["0", "1", "2"]
        assert hec.events[0] == {
            "host": "vault-1",
            "source": "keyledger",
            "sourcetype": "keyledger:jsonl",
            "event": {"id": "0", "timestamp": 1_700_000_000_123},
            "time": 1_700_000_000.123,
        }
        # Without the CA the self-signed certificate is refused.
        untrusting = open_sink(url, "cef", token=TOKEN)
        with pytest.raises(SinkError, match="unreachable") as refused:
            untrusting.deliver(["CEF:0|x"])
        assert TOKEN not in str(refused.value)
        # A wrong token: the collector says no, the token is not echoed.
        wrong = open_sink(url, "cef", token="not-it", ca_file=cert)
        with pytest.raises(SinkError, match="HTTP 403"):
            wrong.deliver(["CEF:0|x"])
        assert len(hec.events) == 3
    finally:
        hec.close()


def test_hec_sink_plain_http_only_on_loopback() -> None:
    hec = HecReceiver(TOKEN, None)
    try:
        sink = open_sink(f"http://127.0.0.1:{hec.port}/services/collector", "cef", token=TOKEN)
        sink.deliver(["CEF:0|keyledger"])
        assert hec.events[0]["event"] == "CEF:0|keyledger"
        assert hec.events[0]["sourcetype"] == "keyledger:cef"
    finally:
        hec.close()
    with pytest.raises(SinkError, match=r"only allowed for a collector on 127\.0\.0\.1"):
        open_sink("http://siem.example/services/collector", "cef", token=TOKEN)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://siem.example/x", "unknown sink 'ftp://siem.example/x'"),
        ("siem.example:514", "unknown sink"),
        ("tcp://siem.example", "needs HOST:PORT"),
        ("udp://:514", "needs HOST:PORT"),
        ("file:", "needs a path"),
        ("https://siem.example/api", "https://HOST/services/collector"),
        ("https://siem.example/services/collector", "token on stdin"),
    ],
)
def test_bad_sinks_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(SinkError, match=reason.replace("'", ".")) as refused:
        open_sink(url, "cef")
    if "unknown" in reason:
        assert "tcp://HOST:PORT" in str(refused.value)


def test_tcp_sink_names_a_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SinkError, match=f"cannot connect to tcp://127.0.0.1:{port}"):
        open_sink(f"tcp://127.0.0.1:{port}", "syslog")
