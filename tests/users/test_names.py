"""What a name may be (the spec is silent; the README states the rule)."""

from __future__ import annotations

import pytest

from docmemo.errors import InvalidInput
from docmemo.users.names import clean_name


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
