"""The HTTP server's own logging: no per-request lines unless asked, and then no tokens.

A bootstrap token is a credential carried in the URL (`GET /v1/bootstrap/<token>`);
an access log is read by more people than the vault, so the token never reaches it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any

TOKEN_PATH = re.compile(r"(/bootstrap/)(?!register(?:[/?#]|$))[^/?#]+", re.IGNORECASE)
REDACTED = r"\1[redacted]"
ACCESS_LOGGER = "granian.access"
# Python's level names, plus uvicorn's `trace` (the option predates granian).
LOG_LEVELS = {"critical", "error", "warning", "warn", "info", "debug", "trace"}


def redact(path: str) -> str:
    return TOKEN_PATH.sub(REDACTED, path)


class RedactTokens(logging.Filter):
    """For an access logger. granian logs a format string with one mapping argument
    (`path`, `query_string`, ...); uvicorn logs a tuple whose third item is the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = {
                key: redact(str(value)) if key in ("path", "query_string") else value
                for key, value in record.args.items()
            }
        elif isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = redact(str(args[2]))
            record.args = tuple(args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def granian_logging(log_level: str) -> dict[str, Any]:
    """granian's own dictConfig with the redacting filter on its access handler; the
    access logger follows the log level, as uvicorn's did. A dictConfig rather than a
    filter added in this process: every worker process applies it when it starts."""
    from granian.log import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_tokens": {"()": f"{__name__}.RedactTokens"}}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    config["loggers"][ACCESS_LOGGER]["level"] = level_name(log_level)
    return config


def level_name(log_level: str) -> str:
    """`--log-level` as a logging level name (granian's own levels are these)."""
    name = log_level.lower()
    if name not in LOG_LEVELS:
        raise ValueError(f"unknown log level {log_level!r}: one of {', '.join(sorted(LOG_LEVELS))}")
    return {"trace": "DEBUG", "warn": "WARNING"}.get(name, name.upper())
