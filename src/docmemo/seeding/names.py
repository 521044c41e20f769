"""Unique, realistic person names, fast enough for a million users.

Where the names come from
    Faker's per-locale person providers (French, Belgian, Swiss, English, Irish,
    German, Austrian, Spanish, Italian, Portuguese and Dutch lists), read once as
    plain tuples. Calling ``Faker().name()`` per user would cost minutes at
    1,000,000 users and could not promise uniqueness without retries.

Which tokens are kept
    Single tokens only (Latin letters, inner hyphens or apostrophes, no spaces),
    capitalised, at most 40 characters, whose letters all lower-case to exactly
    one character. That last rule makes Python's ``str.lower()`` agree with
    PostgreSQL's ``lower()`` (simple per-character case mapping under a UTF-8
    locale), so that :func:`docmemo.users.names.name_key` here computes what the
    database's ``name_key()`` index checks. Tokens are de-duplicated by that key
    ("Heß" and "Hess" are one name) and sorted, so the lists (and therefore
    generation from a seed) never depend on dict ordering.

How uniqueness is guaranteed without retries
    With F first names and L last names there are F*L distinct "First Last"
    names: pair index ``i`` is ``first[i // L] + " " + last[i % L]``. Two
    different indices give two names that differ case-insensitively, because the
    two tokens are separated by the only space and each list is unique
    case-insensitively. Drawing ``n`` indices *without replacement* therefore
    yields ``n`` unique names: no retry on names and no database round trip.

    When ``n`` is more than half of F*L the draw would be dense (and "random
    names" would become "nearly every name"), so the space is widened 27-fold
    with a middle-initial layer: index ``i`` in ``range(27 * F * L)`` has layer
    ``i // (F*L)``; layer 0 is "First Last", layer k (1..26) is
    "First X. Last" with X the k-th letter. Three-token names can never equal
    two-token ones, so uniqueness still holds.

Plan for 1,000,000 users and beyond
    With the bundled lists (about 4,600 first and 7,900 last names) F*L is about
    37 million, so 1,000,000 names are a sparse draw from the two-token space.
    The draw (``_draw``) never materialises the index space: it keeps a set of
    the drawn indices, i.e. O(n) memory (about 145 MB peak at n = 1,000,000,
    names included; the index set is freed once the names are built) and under
    one second of CPU. The widened space holds about a billion names, so the
    method scales unchanged to millions more; ``capacity()`` is the hard limit
    and asking for more raises ``ValueError``.
    Past roughly ten million users the O(n) index set becomes the memory
    bottleneck; the next step would be to replace ``rng.sample`` by a keyed
    pseudo-random permutation of the index space (a Feistel network with cycle
    walking) and stream names chunk by chunk, which needs O(1) memory and keeps
    both uniqueness and reproducibility.
"""

from __future__ import annotations

import importlib
import random
import string
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from docmemo.users.names import name_key

LOCALES = (
    "fr_FR",
    "fr_BE",
    "fr_CH",
    "en_US",
    "en_GB",
    "en_IE",
    "de_DE",
    "de_AT",
    "es_ES",
    "it_IT",
    "pt_PT",
    "nl_NL",
)
MAX_TOKEN_LENGTH = 40  # "First X. Last" stays far below the 100-character column limit.
INITIALS = string.ascii_uppercase
LAYERS = 1 + len(INITIALS)  # layer 0: no middle initial; layers 1..26: "A." .. "Z."


# Cached: Faker's name lists hold some 17,000 tokens but only a few hundred distinct
# characters, and looking up a character's Unicode name is the slow part.
@lru_cache(maxsize=4096)
def _is_latin_letter(char: str) -> bool:
    return (
        char.isalpha()
        and len(char.lower()) == 1
        and unicodedata.name(char, "").startswith("LATIN ")
    )


def is_name_token(token: str) -> bool:
    """Whether ``token`` may be used as a first or last name (see the module docstring)."""
    if not (0 < len(token) <= MAX_TOKEN_LENGTH):
        return False
    if not (_is_latin_letter(token[0]) and token[0].isupper() and _is_latin_letter(token[-1])):
        return False
    previous_is_letter = True
    for char in token:
        if char in "-'":
            if not previous_is_letter:  # no "--", "-'" or "'-"
                return False
            previous_is_letter = False
        elif _is_latin_letter(char):
            previous_is_letter = True
        else:
            return False
    return True


def _clean(tokens: Iterable[str]) -> tuple[str, ...]:
    """Keep valid tokens, drop case-insensitive duplicates (first spelling wins), sort
    by key (each key is there once, so that is the order of ``(name_key(t), t)``).

    Every command that seeds reads the lists, and ``name_key`` is most of that cost:
    a token seen before (the locales share many names) is skipped before checking
    it, and each remaining token's key is computed once.
    """
    seen: set[str] = set()
    kept: dict[str, str] = {}
    for token in tokens:
        token = unicodedata.normalize("NFC", token.strip())
        if token in seen:
            continue
        seen.add(token)
        if is_name_token(token):
            kept.setdefault(name_key(token), token)
    return tuple(kept[key] for key in sorted(kept))


@lru_cache(maxsize=1)
def name_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The first names and last names, read once from Faker's providers."""
    firsts: list[str] = []
    lasts: list[str] = []
    # Sorted locale order plus the final sort make the result independent of this tuple.
    for locale in sorted(LOCALES):
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        firsts.extend(getattr(provider, "first_names", ()))  # OrderedDicts iterate keys
        lasts.extend(getattr(provider, "last_names", ()))
    return _clean(firsts), _clean(lasts)


def capacity() -> int:
    """How many unique names ``unique_names`` can produce at most."""
    firsts, lasts = name_lists()
    return LAYERS * len(firsts) * len(lasts)


def unique_names(
    n: int,
    rng: random.Random,
    *,
    firsts: Sequence[str] | None = None,
    lasts: Sequence[str] | None = None,
) -> list[str]:
    """``n`` distinct names (case-insensitively), in random order, drawn from ``rng``.

    Deterministic for a given ``rng`` state: the same seed gives the same names.
    ``firsts`` and ``lasts`` default to ``name_lists()``; other lists (e.g. tiny
    ones, to exercise the middle-initial layer in tests) must be valid tokens,
    unique case-insensitively.
    """
    if n < 0:
        raise ValueError("the number of names cannot be negative")
    if firsts is None or lasts is None:
        default_firsts, default_lasts = name_lists()
        firsts = default_firsts if firsts is None else firsts
        lasts = default_lasts if lasts is None else lasts
    n_last = len(lasts)
    pairs = len(firsts) * n_last
    if n > LAYERS * pairs:
        raise ValueError(f"cannot make {n} unique names: at most {LAYERS * pairs} exist")
    if 2 * n <= pairs:
        return [f"{firsts[i // n_last]} {lasts[i % n_last]}" for i in _draw(pairs, n, rng)]
    middles = ("", *(f" {letter}." for letter in INITIALS))
    names = []
    for i in _draw(LAYERS * pairs, n, rng):
        layer, pair = divmod(i, pairs)
        first, last = divmod(pair, n_last)
        names.append(f"{firsts[first]}{middles[layer]} {lasts[last]}")
    return names


def _draw(space: int, n: int, rng: random.Random) -> list[int]:
    """``n`` distinct integers from ``range(space)``, in draw order.

    What ``rng.sample(range(space), n)`` does for sparse draws, minus its switch
    to materialising the whole population (``list(range(space))``) once
    ``space`` is below about ``12 * n``: that switch would cost gigabytes at a
    few million names. Callers keep ``n <= space / 2``, so each draw succeeds
    with probability at least one half: fewer than 2n tries are expected.
    """
    randrange = rng.randrange
    seen: set[int] = set()
    drawn: list[int] = []
    while len(drawn) < n:
        i = randrange(space)
        if i not in seen:
            seen.add(i)
            drawn.append(i)
    return drawn
