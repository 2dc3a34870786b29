"""Token paths never reach the HTTP server's access log."""

from __future__ import annotations

import logging

import pytest

from interfaces.http.serverlog import RedactTokens, redact

TOKEN = "0123456789abcdef" * 3


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (f"/v1/bootstrap/{TOKEN}", "/v1/bootstrap/[redacted]"),
        (f"/v1/bootstrap/{TOKEN}?x=1", "/v1/bootstrap/[redacted]?x=1"),
        (f"/v1//Bootstrap/{TOKEN}/more", "/v1//Bootstrap/[redacted]/more"),
        ("/v1/bootstrap/register", "/v1/bootstrap/register"),
        ("/v1/secret/sk_abc", "/v1/secret/sk_abc"),
    ],
)
def test_redact(path: str, shown: str) -> None:
    assert redact(path) == shown


def test_filter_rewrites_uvicorns_access_record() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/v1/bootstrap/{TOKEN}", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert TOKEN not in record.getMessage()
    assert "/v1/bootstrap/[redacted]" in record.getMessage()
