"""Logging set-up: uvicorn's, with secrets redacted from the access log.

``GET /login?name=…&password=…`` is part of the contract, so the password does
reach the server in a URL; it must never reach a log.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_SECRET_QUERY_VALUE = re.compile(r"((?:^|[?&])(?:password|access_token|token)=)[^&#]*", re.I)


def redact_secrets(path: str) -> str:
    return _SECRET_QUERY_VALUE.sub(r"\1[REDACTED]", path)


class RedactSecrets(logging.Filter):
    """Rewrites the request line of uvicorn's access records (args: client, method, path, …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_secrets(args[2]), *args[3:])
        return True


def log_config(access_log: bool = True) -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": f"{__name__}.RedactSecrets"}}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    if not access_log:
        config["loggers"]["uvicorn.access"]["level"] = "WARNING"
    config["loggers"]["docmemo"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
