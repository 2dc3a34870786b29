"""Sinks: a file, a TCP or UDP syslog/SIEM listener, or Splunk HEC (hec.py).

Framing: over TCP, syslog is octet-counted (RFC 6587 §3.4.1: `LEN SP MSG`), JSON lines
and CEF are newline-delimited; every format is single-line, so a file is one record a
line. UDP sends one datagram per record and has no acknowledgement: delivery over UDP
is at most once. TCP and file sinks write one record per system call, so a killed
exporter leaves at most one cut frame, which the receiver's framing drops.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from application.siemexport import Sink, SinkError

SCHEMES = "file:PATH, tcp://HOST:PORT, udp://HOST:PORT, https://HOST[:PORT]/services/collector"


def frame(record: str, fmt: str, octet_counted: bool) -> bytes:
    data = record.encode()
    if octet_counted and fmt == "syslog":
        return str(len(data)).encode() + b" " + data
    return data + b"\n"


def host_port(rest: str, url: str) -> tuple[str, int]:
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SinkError(f"sink {url!r} needs HOST:PORT")
    return host, int(port)


class FileSink:
    batch = 1

    def __init__(self, path: Path, fmt: str) -> None:
        self.fmt = fmt
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot open {path}: {exc.strerror}") from None

    def deliver(self, records: list[str]) -> None:
        os.write(self._fd, b"".join(frame(r, self.fmt, False) for r in records))

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class TcpSink:
    """A bounded send buffer: the cursor counts a record once the kernel has it, so
    what a host crash can lose in flight stays small, and a stalled SIEM stalls the
    exporter (and its cursor) within a few dozen kilobytes instead of megabytes."""

    batch = 1
    SEND_BUFFER = 32 * 1024

    def __init__(self, host: str, port: int, fmt: str, timeout: float = 30.0) -> None:
        self.fmt = fmt
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise SinkError(f"cannot connect to tcp://{host}:{port}: {exc}") from None
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.SEND_BUFFER)

    def deliver(self, records: list[str]) -> None:
        try:
            self._sock.sendall(b"".join(frame(r, self.fmt, True) for r in records))
        except OSError as exc:
            raise SinkError(f"TCP sink failed: {exc}") from None

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._sock.close()


class UdpSink:
    batch = 1

    def __init__(self, host: str, port: int) -> None:
        try:
            family, kind, proto, _name, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM
            )[0]
        except OSError as exc:
            raise SinkError(f"cannot resolve udp://{host}:{port}: {exc}") from None
        self._sock = socket.socket(family, kind, proto)
        self._address = address

    def deliver(self, records: list[str]) -> None:
        for record in records:
            try:
                self._sock.sendto(record.encode(), self._address)
            except OSError as exc:
                raise SinkError(f"UDP sink failed: {exc}") from None

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._sock.close()


def parse_sink(url: str) -> tuple[str, str]:
    """(kind, target) of a sink URL, checked without touching the network or a file."""
    if url.startswith("file:"):
        path = url.removeprefix("file:").removeprefix("//")
        if not path:
            raise SinkError("sink file: needs a path (file:PATH)")
        return "file", path
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("tcp", "udp"):
        host_port(rest, url)
        return scheme, rest
    if sep and scheme in ("https", "http"):
        return "hec", url
    raise SinkError(f"unknown sink {url!r} (one of: {SCHEMES})")


def open_sink(
    url: str,
    fmt: str,
    *,
    token: str | None = None,
    ca_file: Path | None = None,
    hostname: str = "",
) -> Sink:
    """The sink `url` names; an unknown scheme is refused with the ones we know."""
    kind, target = parse_sink(url)
    if kind == "file":
        return FileSink(Path(target), fmt)
    if kind == "tcp":
        return TcpSink(*host_port(target, url), fmt)
    if kind == "udp":
        return UdpSink(*host_port(target, url))
    from infrastructure.siem.hec import HecSink

    return HecSink(url, fmt, token, ca_file, hostname)
