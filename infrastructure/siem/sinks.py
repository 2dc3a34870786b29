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
    batch = 1

    def __init__(self, host: str, port: int, fmt: str, timeout: float = 10.0) -> None:
        self.fmt = fmt
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise SinkError(f"cannot connect to tcp://{host}:{port}: {exc}") from None

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


def open_sink(
    url: str,
    fmt: str,
    *,
    token: str | None = None,
    ca_file: Path | None = None,
    hostname: str = "",
) -> Sink:
    """The sink `url` names; an unknown scheme is refused with the ones we know."""
    if url.startswith("file:"):
        path = url.removeprefix("file:").removeprefix("//")
        if not path:
            raise SinkError("sink file: needs a path (file:PATH)")
        return FileSink(Path(path), fmt)
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "tcp":
        return TcpSink(*host_port(rest, url), fmt)
    if sep and scheme == "udp":
        return UdpSink(*host_port(rest, url))
    if sep and scheme in ("https", "http"):
        from infrastructure.siem.hec import HecSink

        return HecSink(url, fmt, token, ca_file, hostname)
    raise SinkError(f"unknown sink {url!r} (one of: {SCHEMES})")
