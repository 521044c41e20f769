"""What a person's name may be.

The spec is silent on the form of a name. We accept what clinic staff write in a
name field in any script — letters (any alphabet), combining marks, digits,
spaces and the punctuation of names (``-``, ``'``, ``’``, ``.``, ``_``) — starting
and ending with a letter or digit (a final ``.`` is allowed: "Jr."), at most 100
characters. Everything else (control characters, quotes, semicolons, brackets…)
is refused with 422, before any query is made. Surrounding spaces are ignored,
and names are stored in Unicode NFC form (composed accents).

Two names are the same person when their *keys* are equal: the name in NFKC
form, lower-cased, with the few letters whose lower case is not their case fold
folded too (ß → ss, final ς → σ, long ſ → s). So "Strauß" is "STRAUSS" and
"Οδυσσέας" is "ΟΔΥΣΣΈΑΣ". The database computes the same key with its own
``name_key()`` function (migration 0002), which the unique index and every
look-up use; :func:`name_key` is its Python twin for code that must predict
uniqueness without asking the database (the generator).
"""

from __future__ import annotations

import unicodedata

from docmemo.db.models import MAX_NAME_LENGTH
from docmemo.errors import InvalidInput

_NAME_PUNCTUATION = frozenset(" -'’._")
# Letters whose lower case differs from their Unicode case fold (mirrored in SQL).
_FOLD_AFTER_LOWER = str.maketrans({"ß": "ss", "ς": "σ", "ſ": "s"})
# PostgreSQL lower-cases with the simple mapping (İ → i); Python's full mapping
# would give "i" plus a combining dot.
_POSTGRES_SIMPLE_LOWER = str.maketrans({"İ": "i"})


def name_key(name: str) -> str:
    """What makes two names the same person (see the module docstring)."""
    normalized = unicodedata.normalize("NFKC", name).translate(_POSTGRES_SIMPLE_LOWER)
    return normalized.lower().translate(_FOLD_AFTER_LOWER)


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
    name = unicodedata.normalize("NFC", raw.strip(" "))
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
