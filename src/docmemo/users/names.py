"""What a person's name may be.

The spec is silent on the form of a name. We accept what clinic staff write in a
name field in any script — letters (any alphabet), combining marks, digits,
spaces and the punctuation of names (``-``, ``'``, ``’``, ``.``, ``_``) — starting
and ending with a letter or digit (a final ``.`` is allowed: "Jr."), at most 100
characters. Everything else (control characters, quotes, semicolons, brackets…)
is refused with 422, before any query is made. Surrounding spaces are ignored.
"""

from __future__ import annotations

import unicodedata

from docmemo.db.models import MAX_NAME_LENGTH
from docmemo.errors import InvalidInput

_NAME_PUNCTUATION = frozenset(" -'’._")


def _is_letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _allowed(char: str) -> bool:
    return (
        _is_letter_or_digit(char)
        or unicodedata.category(char)[0] == "M"
        or (char in _NAME_PUNCTUATION)
    )


def clean_name(raw: str) -> str:
    """Return the name to store or look up, or raise InvalidInput saying what is wrong."""
    name = raw.strip(" ")
    if not name:
        raise InvalidInput("name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"name must be at most {MAX_NAME_LENGTH} characters")
    if not all(_allowed(char) for char in name):
        raise InvalidInput(
            "name may contain only letters, digits, spaces and the characters - ' ’ . _"
        )
    if not _is_letter_or_digit(name[0]) or not (_is_letter_or_digit(name[-1]) or name[-1] == "."):
        raise InvalidInput("name must start with a letter or digit and end with one (or '.')")
    return name
