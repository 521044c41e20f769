"""Logging set-up: uvicorn's, with secrets and health values kept out of every line.

``GET /login?name=…&password=…`` is part of the contract, so a password does reach
the server in a URL, and ``POST /create_user/…?mmse=…&age=…`` puts a patient's
health data there: neither may reach a log. Two filters see to it:

- the access log's request line keeps each query parameter's name but not the
  value of a password, a token, an MMSE score, an age or a caregiver id. Names are
  compared as the API reads them (percent-decoded, any case), so ``%6Dmse=`` is
  redacted too;
- a logged exception (``log.exception``, uvicorn's "Exception in ASGI application")
  keeps its traceback but loses its messages, which are where values hide: a
  PostgreSQL error's "Failing row contains (…, 70, 17, …)", a validation error's
  ``input_value``. The type of each exception and PostgreSQL's SQLSTATE say enough
  to find the bug; the request that caused it is in the access log.

Request bodies (an assessment's score) are never logged by the service.
"""

from __future__ import annotations

import copy
import logging
import traceback
from types import TracebackType
from typing import Any
from urllib.parse import unquote_plus

from uvicorn.config import LOGGING_CONFIG

REDACTED = "[REDACTED]"
# Query parameters whose values never reach a log: secrets, then health data (the
# caregiver id ties a patient to a person).
REDACTED_QUERY_PARAMETERS = frozenset(
    {
        "password",
        "old_password",
        "new_password",
        "access_token",
        "token",
        "mmse",
        "age",
        "caregiver_id",
    }
)


def _redact_pair(pair: str) -> str:
    key, separator, _ = pair.partition("=")
    if separator and unquote_plus(key).strip().casefold() in REDACTED_QUERY_PARAMETERS:
        return f"{key}={REDACTED}"
    return pair


def redact_secrets(path: str) -> str:
    """The request target with the values of secret and health parameters redacted."""
    path, question_mark, query = path.partition("?")
    if not question_mark:
        return path
    return f"{path}?{'&'.join(_redact_pair(pair) for pair in query.split('&'))}"


class RedactSecrets(logging.Filter):
    """Rewrites the request line of uvicorn's access records (args: client, method, path, …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_secrets(args[2]), *args[3:])
        return True


def _exception_label(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None)
    label = f"{type(error).__module__}.{type(error).__qualname__}"
    return f"{label} (SQLSTATE {sqlstate})" if sqlstate else label


def format_exception_without_messages(
    error_type: type[BaseException] | None,
    error: BaseException | None,
    tb: TracebackType | None,
) -> str:
    """A traceback (chained exceptions included) with each exception's type but not its
    message: messages can quote the values of a row or a request."""
    if error is None:
        return ""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception"
        else:
            current = None
    lines: list[str] = []
    # Oldest first, as Python prints them.
    for index, (item, _) in enumerate(reversed(chain)):
        if index:
            # The link that led from the newer exception to this older one.
            newer_link = chain[len(chain) - index][1]
            lines.append(f"\n{newer_link} the following exception:\n\n")
        frames = traceback.extract_tb(item.__traceback__ if item is not error else tb)
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
        lines.append(f"{_exception_label(item)}: [message withheld: it may hold data]\n")
    return "".join(lines).rstrip("\n")


class WithholdExceptionMessages(logging.Filter):
    """Renders a record's exception without messages, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = format_exception_without_messages(*record.exc_info)
        return True


def log_config(access_log: bool = True) -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "redact_secrets": {"()": f"{__name__}.RedactSecrets"},
        "withhold_exception_messages": {"()": f"{__name__}.WithholdExceptionMessages"},
    }
    config["handlers"]["access"]["filters"] = ["redact_secrets", "withhold_exception_messages"]
    config["handlers"]["default"]["filters"] = ["withhold_exception_messages"]
    if not access_log:
        config["loggers"]["uvicorn.access"]["level"] = "WARNING"
    config["loggers"]["docmemo"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
