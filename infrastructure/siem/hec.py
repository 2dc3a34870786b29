"""Splunk HTTP Event Collector: `POST https://HOST/services/collector`.

The token is sent as `Authorization: Splunk <token>` and appears in no error message.
TLS is verified against the system CAs or `ca_file`; plain `http://` is accepted only
for a collector on this host (127.0.0.1, ::1, localhost), never across a network.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from application.siemexport import Progress, SinkError

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class HecSink:
    at_most_once = False
    batch = 100  # one POST per 100 records: an HTTP 200 acknowledges them all

    def __init__(
        self, url: str, fmt: str, token: str | None, ca_file: Path | None, hostname: str
    ) -> None:
        parts = urlsplit(url)
        if parts.path.rstrip("/") != "/services/collector" or not parts.hostname:
            raise SinkError(f"a Splunk HEC sink is https://HOST/services/collector, not {url}")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise SinkError("plain http:// is only allowed for a collector on 127.0.0.1")
        if not token:
            raise SinkError("a Splunk HEC sink needs its token on stdin")
        self.url = url
        self.fmt = fmt
        self.hostname = hostname
        verify = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._client = httpx.Client(
            verify=verify, timeout=30.0, headers={"Authorization": f"Splunk {token}"}
        )

    def _event(self, record: str) -> dict[str, object]:
        event: object = json.loads(record) if self.fmt in ("jsonl", "ocsf") else record
        stamp = event.get("time", event.get("timestamp")) if isinstance(event, dict) else None
        out: dict[str, object] = {
            "host": self.hostname,
            "source": "keyledger",
            "sourcetype": f"keyledger:{self.fmt}",
            "event": event,
        }
        if isinstance(stamp, int):
            out["time"] = stamp / 1000
        return out

    def resume(self, mark: dict[str, int]) -> None:
        pass

    def deliver(self, records: list[str], progress: Progress | None = None) -> None:
        """One POST per `batch` records; the cursor follows each acknowledged POST."""
        for start in range(0, len(records), self.batch):
            self._post(records[start : start + self.batch])
            done = min(start + self.batch, len(records))
            if progress is not None and done < len(records):
                progress(done)

    def mark(self) -> dict[str, int]:
        return {}

    def _post(self, records: list[str]) -> None:
        body = "".join(json.dumps(self._event(r), ensure_ascii=False) for r in records)
        try:
            answer = self._client.post(self.url, content=body.encode())
        except httpx.HTTPError as exc:
            raise SinkError(f"Splunk HEC unreachable: {type(exc).__name__}: {exc}") from None
        if answer.status_code != 200:
            raise SinkError(f"Splunk HEC refused the events: HTTP {answer.status_code}")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._client.close()
