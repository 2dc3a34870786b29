"""Sinks: a file, a TCP or UDP syslog/SIEM listener, or Splunk HEC (hec.py).

Framing: over TCP, syslog is octet-counted (RFC 6587 §3.4.1: `LEN SP MSG`), JSON lines
and CEF are newline-delimited; every format is single-line, so a file is one record a
line. A file takes a whole delivery in one write and is synced before the cursor moves;
the cursor keeps the file's size, and a resume truncates what a kill left after it.
TCP reports each send the kernel took, so the cursor follows the stream; a kill leaves
at most one cut frame, which the receiver's framing drops. UDP sends one datagram per
record and has no acknowledgement: delivery over UDP is at most once.
"""

from __future__ import annotations

import os
import socket
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

from application.siemexport import Progress, Sink, SinkError

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
    at_most_once = False

    def __init__(self, path: Path, fmt: str) -> None:
        self.fmt = fmt
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot open {path}: {exc.strerror}") from None

    def resume(self, mark: dict[str, int]) -> None:
        """Truncate the tail a killed run wrote after its last cursor commit: those
        records are sent again. Only the very file the cursor describes, and only when
        it grew past the mark (a rotated or emptied file is left as it is)."""
        if "size" not in mark:
            return
        stat = os.fstat(self._fd)
        same = (stat.st_dev, stat.st_ino) == (mark.get("dev"), mark.get("inode"))
        if same and stat.st_size > mark["size"]:
            os.ftruncate(self._fd, mark["size"])

    def deliver(self, records: list[str], progress: Progress | None = None) -> None:
        data = memoryview("\n".join(records).encode() + b"\n") if records else memoryview(b"")
        try:
            while data:
                data = data[os.write(self._fd, data) :]
            os.fsync(self._fd)  # on disk before the cursor counts it: a power cut re-sends
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror}") from None

    def mark(self) -> dict[str, int]:
        stat = os.fstat(self._fd)
        return {"size": stat.st_size, "dev": stat.st_dev, "inode": stat.st_ino}

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class TcpSink:
    """A bounded send buffer: the cursor counts a record once the kernel has it, so
    what a host crash can lose in flight stays small, and a stalled SIEM stalls the
    exporter (and its cursor) within a few dozen kilobytes instead of megabytes."""

    at_most_once = False
    SEND_BUFFER = 32 * 1024

    def __init__(self, host: str, port: int, fmt: str, timeout: float = 30.0) -> None:
        self.fmt = fmt
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise SinkError(f"cannot connect to tcp://{host}:{port}: {exc}") from None
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.SEND_BUFFER)

    def resume(self, mark: dict[str, int]) -> None:
        pass

    def deliver(self, records: list[str], progress: Progress | None = None) -> None:
        """Send in pieces the kernel takes; after each, report the whole frames it holds,
        so the cursor trails the stream by at most one send (see README)."""
        frames = [frame(r, self.fmt, True) for r in records]
        ends = list(accumulate(map(len, frames)))
        data = memoryview(b"".join(frames))
        sent = reported = 0
        while sent < len(data):
            try:
                sent += self._sock.send(data[sent:])  # a timeout is set: never blocks whole
            except OSError as exc:
                raise SinkError(f"TCP sink failed: {exc}") from None
            whole = bisect_right(ends, sent)
            if progress is not None and reported < whole < len(frames):
                progress(whole)
                reported = whole

    def mark(self) -> dict[str, int]:
        return {}

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._sock.close()


class UdpSink:
    at_most_once = True  # the cursor moves first: a kill loses a delivery, never repeats one

    def __init__(self, host: str, port: int) -> None:
        try:
            family, kind, proto, _name, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM
            )[0]
        except OSError as exc:
            raise SinkError(f"cannot resolve udp://{host}:{port}: {exc}") from None
        self._sock = socket.socket(family, kind, proto)
        self._address = address

    def resume(self, mark: dict[str, int]) -> None:
        pass

    def deliver(self, records: list[str], progress: Progress | None = None) -> None:
        for record in records:
            try:
                self._sock.sendto(record.encode(), self._address)
            except OSError as exc:
                raise SinkError(f"UDP sink failed: {exc}") from None

    def mark(self) -> dict[str, int]:
        return {}

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
