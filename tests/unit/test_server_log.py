"""Token paths never reach the HTTP server's access log."""

from __future__ import annotations

import logging

import pytest

from interfaces.http.serverlog import RedactTokens, granian_logging, redact

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


def test_filter_rewrites_granians_access_record() -> None:
    """granian's access logger: its default format, its record's one mapping argument."""
    from granian.log import DEFAULT_ACCESSLOG_FMT

    request = {
        "addr": "127.0.0.1",
        "time": "2026-01-01 00:00:00 +0000",
        "dt_ms": 1.5,
        "status": 200,
        "path": f"/v1/bootstrap/{TOKEN}",
        "query_string": f"t={TOKEN}",
        "method": "GET",
        "scheme": "http",
        "protocol": "HTTP/1.1",
    }
    record = logging.LogRecord(
        "granian.access", logging.INFO, __file__, 1, DEFAULT_ACCESSLOG_FMT, (request,), None
    )
    assert RedactTokens().filter(record)
    assert TOKEN not in record.getMessage()
    assert '"GET /v1/bootstrap/[redacted] HTTP/1.1" 200' in record.getMessage()


def test_granian_logging_redacts_and_follows_the_level() -> None:
    config = granian_logging("warning")
    assert config["handlers"]["access"]["filters"] == ["redact_tokens"]
    assert config["filters"]["redact_tokens"]["()"].endswith(".RedactTokens")
    assert config["loggers"]["granian.access"]["level"] == "WARNING"
    assert granian_logging("trace")["loggers"]["granian.access"]["level"] == "DEBUG"
    with pytest.raises(ValueError, match="unknown log level"):
        granian_logging("loud")
