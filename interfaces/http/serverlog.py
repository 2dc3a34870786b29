"""The HTTP server's own logging: no per-request lines unless asked, and then no tokens.

A bootstrap token is a credential carried in the URL (`GET /v1/bootstrap/<token>`);
an access log is read by more people than the vault, so the token never reaches it.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

TOKEN_PATH = re.compile(r"(/bootstrap/)(?!register(?:[/?#]|$))[^/?#]+", re.IGNORECASE)
REDACTED = r"\1[redacted]"


def redact(path: str) -> str:
    return TOKEN_PATH.sub(REDACTED, path)


class RedactTokens(logging.Filter):
    """For uvicorn's access logger: its record's third argument is the request path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = redact(str(args[2]))
            record.args = tuple(args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def uvicorn_options(access_log: bool, log_level: str) -> dict[str, Any]:
    """What every way of running uvicorn passes (one worker or many): the client's
    address is the socket's (keyledger reads forwarded headers itself, only from
    KEYLEDGER_TRUSTED_PROXIES), and the access log is off or redacted."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": f"{__name__}.RedactTokens"}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return {
        "proxy_headers": False,
        "access_log": access_log,
        "log_config": config,
        "log_level": log_level,
    }
