"""The export formats by name: each turns one `AuditRecord` into one text record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from domain.siem.cef import cef_line
from domain.siem.ocsf import ocsf_event
from domain.siem.record import AuditRecord
from domain.siem.syslog import syslog_message

FORMATS = ("ocsf", "cef", "syslog", "jsonl")


# msgspec (a pure encoder, no I/O) writes the same compact, key-sorted, UTF-8 JSON as
# `json.dumps(..., ensure_ascii=False, separators=(",", ":"), sort_keys=True)` about five
# times faster: JSON was the largest share of the export's time per record.
_ENCODER = msgspec.json.Encoder(order="sorted")


def _json(value: object) -> str:
    return _ENCODER.encode(value).decode()


@dataclass(frozen=True)
class Formatter:
    """What a sink needs to know: the name (framing depends on it) and the function."""

    name: str
    render: Callable[[AuditRecord], str]


def formatter(name: str, product_version: str, hostname: str, procid: str) -> Formatter:
    if name == "jsonl":
        return Formatter(name, lambda r: _json(r.fields()))
    if name == "ocsf":
        return Formatter(name, lambda r: _json(ocsf_event(r, product_version)))
    if name == "cef":
        return Formatter(name, lambda r: cef_line(r, product_version))
    if name == "syslog":
        return Formatter(name, lambda r: syslog_message(r, hostname, procid))
    raise ValueError(f"unknown export format {name!r} (one of: {', '.join(FORMATS)})")
