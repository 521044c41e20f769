"""What a name may be (the spec is silent; the README states the rule)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from docmemo.errors import InvalidInput
from docmemo.users.names import clean_name, name_key


@pytest.mark.parametrize(
    "name",
    [
        "Adrien",
        "Jean-Pierre O'Neil",
        "Zoé Lefèvre",
        "Зоя Иванова",
        "李小龙",
        "محمد علي",
        "Martin Luther King Jr.",
        "user_42",
        "Ngũgĩ wa Thiong’o",
    ],
)
def test_names_people_have_are_accepted(name):
    assert clean_name(name) == name


def test_surrounding_spaces_are_ignored():
    assert clean_name("  Adrien Martin ") == "Adrien Martin"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "x" * 101,
        "Robert'); DROP TABLE users;--",
        "' OR '1'='1",
        "admin'--",
        "a\x00b",
        "tab\there",
        "new\nline",
        "\x1b[31mred",
        "<script>alert(1)</script>",
        "-leading",
        "trailing-",
        "semi;colon",
        'quote"d',
        "back\\slash",
        "per%cent",
    ],
)
def test_hostile_or_malformed_names_are_refused(name):
    with pytest.raises(InvalidInput):
        clean_name(name)


def test_a_hundred_characters_is_the_limit():
    assert clean_name("a" * 100) == "a" * 100


SAME_PERSON = [
    ("Strauß", "STRAUSS"),
    ("Heß", "HESS"),
    ("Οδυσσέας", "ΟΔΥΣΣΈΑΣ"),
    ("Zoë Noël", "Zoe\u0308 Noe\u0308l"),  # composed and decomposed accents
    ("Élodie", "éLODIE"),
    ("Иван", "ИВАН"),
]


@pytest.mark.parametrize(("one", "other"), SAME_PERSON)
def test_names_that_differ_only_by_case_have_one_key(one, other):
    assert name_key(one) == name_key(other)


def test_different_names_keep_different_keys():
    assert name_key("Hess") != name_key("Hesse")
    assert name_key("Zoé") != name_key("Zoe")


def test_stored_names_are_composed():
    assert clean_name("Zoe\u0308") == "Zoë"


@pytest.mark.parametrize(
    "name",
    [pair[i] for pair in SAME_PERSON for i in (0, 1)] + ["Ǆemal", "ﬁona", "Ⅻ Roman", "İlker"],
)
def test_the_database_computes_the_same_key(sync_engine, name):
    with sync_engine.connect() as conn:
        in_sql = conn.execute(text("SELECT name_key(:n)"), {"n": name}).scalar_one()
    assert in_sql == name_key(name)
