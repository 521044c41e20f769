"""The generation rules of SPEC §2, checked without a database."""

from __future__ import annotations

import datetime
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docmemo.db.models import MAX_NAME_LENGTH, Role, Specialty
from docmemo.seeding.generator import (
    AGE_RANGE,
    MMSE_RANGE,
    SHARES,
    Registry,
    RoleCounts,
    fair_assignment,
    generate_registry,
    random_user_ids,
    role_counts,
)
from docmemo.seeding.names import (
    LAYERS,
    _clean,
    capacity,
    is_name_token,
    name_lists,
    unique_names,
)
from docmemo.users.names import name_key

HEX32 = re.compile(r"^[0-9a-f]{32}$")
TOKEN = r"[^\W\d_]+(?:[-'][^\W\d_]+)*"
NAME = re.compile(rf"^{TOKEN}(?: [A-Z]\.)? {TOKEN}$")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return generate_registry(10_000, seed=12345)


# --- proportions ---------------------------------------------------------------------------


@pytest.mark.parametrize("users", [100, 10_000, 1_000_000])
def test_counts_are_the_exact_shares_for_multiples_of_100(users: int) -> None:
    counts = role_counts(users)
    assert counts.sizes() == tuple(users * share // 100 for _, _, share in SHARES)
    assert (counts.patients, counts.caregivers, counts.healthpros) == (
        users * 60 // 100,
        users * 25 // 100,
        users * 15 // 100,
    )


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        (0, (0, 0, 0, 0, 0)),
        (1, (1, 0, 0, 0, 0)),
        (2, (1, 1, 0, 0, 0)),
        (7, (4, 2, 1, 0, 0)),
        (99, (59, 25, 7, 5, 3)),
        (101, (61, 25, 7, 5, 3)),
        (10_001, (6001, 2500, 700, 500, 300)),
    ],
)
def test_largest_remainder_for_odd_counts(users: int, expected: tuple[int, ...]) -> None:
    assert role_counts(users).sizes() == expected


@given(st.integers(min_value=0, max_value=10**9))
def test_counts_sum_to_users_and_stay_within_one_of_the_share(users: int) -> None:
    counts = role_counts(users)
    assert counts.total == users
    for count, (_, _, share) in zip(counts.sizes(), SHARES, strict=True):
        quota = Fraction(users * share, 100)
        assert quota - 1 < count < quota + 1


def test_negative_user_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        role_counts(-1)


@pytest.mark.parametrize("users", [1, 7, 99, 101, 1_234])
def test_registry_follows_the_counts(users: int) -> None:
    registry = generate_registry(users, seed=1)
    counts = role_counts(users)
    assert registry.counts == counts
    assert len(registry.user_ids) == len(registry.names) == users
    assert len(registry.ages) == len(registry.mmse) == len(registry.caregiver_of)
    assert len(registry.ages) == counts.patients
    statuses = Counter(status for _, _, status in registry.users())
    assert statuses == +Counter(  # unary + drops zero counts
        {
            Role.PATIENT.value: counts.patients,
            Role.CAREGIVER.value: counts.caregivers,
            Role.HEALTHPRO.value: counts.healthpros,
        }
    )
    specialties = Counter(specialty for _, _, specialty in registry.healthpros())
    assert specialties == +Counter(
        {
            Specialty.GENERAL.value: counts.general,
            Specialty.PSYCHOLOGIST.value: counts.psychologists,
            Specialty.NEUROLOGIST.value: counts.neurologists,
        }
    )


# --- ids -------------------------------------------------------------------------------------


def test_user_ids_are_unique_uuid4_hex(registry: Registry) -> None:
    assert len(set(registry.user_ids)) == len(registry.user_ids)
    for user_id in registry.user_ids:
        assert HEX32.match(user_id)
        assert uuid.UUID(hex=user_id).version == 4


def test_user_ids_are_what_uuid4_from_the_rng_would_give() -> None:
    expected_rng, rng = random.Random(99), random.Random(99)
    expected = [uuid.UUID(int=expected_rng.getrandbits(128), version=4).hex for _ in range(500)]
    assert random_user_ids(500, rng) == expected


def test_users_come_out_in_id_order(registry: Registry) -> None:
    ids = [user_id for user_id, _, _ in registry.users()]
    assert ids == sorted(registry.user_ids)
    for rows in (registry.caregivers(), registry.patients()):
        role_ids = [row[0] for row in rows]
        assert role_ids == sorted(role_ids)


# --- patients --------------------------------------------------------------------------------


def test_ages_and_mmse_cover_exactly_their_ranges(registry: Registry) -> None:
    assert set(registry.ages) == set(range(AGE_RANGE[0], AGE_RANGE[1] + 1)) == set(range(25, 91))
    assert set(registry.mmse) == set(range(MMSE_RANGE[0], MMSE_RANGE[1] + 1)) == set(range(5, 31))


def test_ages_and_mmse_are_roughly_uniform(registry: Registry) -> None:
    # 6,000 patients: 66 ages (~91 each) and 26 scores (~231 each); far-off bins mean a bug.
    assert max(Counter(registry.ages).values()) < 2 * 6_000 / 66
    assert min(Counter(registry.mmse).values()) > 6_000 / 26 / 2


@pytest.mark.parametrize("users", [10_000, 1_234, 7, 3])
def test_caregivers_get_floor_or_ceil_of_the_patients(users: int) -> None:
    registry = generate_registry(users, seed=3)
    patients, caregivers = registry.counts.patients, registry.counts.caregivers
    load = Counter(registry.caregiver_of)
    caregiver_ids = [registry.user_ids[i] for i in registry.caregiver_range]
    per_caregiver = [load[c] for c in caregiver_ids]
    assert sum(per_caregiver) == patients
    assert set(per_caregiver) <= {patients // caregivers, -(-patients // caregivers)}
    assert set(load) <= set(caregiver_ids)


def test_fair_assignment_with_fewer_patients_than_caregivers() -> None:
    caregivers = [f"{i:032x}" for i in range(5)]
    assignment = fair_assignment(3, caregivers, random.Random(0))
    assert len(assignment) == len(set(assignment)) == 3
    assert set(assignment) <= set(caregivers)


def test_without_caregivers_patients_have_none() -> None:
    assert fair_assignment(4, [], random.Random(0)) == [None] * 4
    registry = generate_registry(1, seed=0)
    assert registry.counts.caregivers == 0
    assert registry.caregiver_of == [None]


def test_assignment_is_shuffled(registry: Registry) -> None:
    # Round-robin without the shuffle would give patient i the caregiver i % C.
    caregiver_ids = [registry.user_ids[i] for i in registry.caregiver_range]
    dealt = [caregiver_ids[j % len(caregiver_ids)] for j in range(registry.counts.patients)]
    assert registry.caregiver_of != dealt


# --- reproducibility -------------------------------------------------------------------------


def test_same_seed_same_registry(registry: Registry) -> None:
    assert generate_registry(10_000, seed=12345) == registry


def test_other_seed_other_registry(registry: Registry) -> None:
    other = generate_registry(10_000, seed=54321)
    assert not set(other.user_ids) & set(registry.user_ids)
    assert other.names != registry.names
    assert other.ages != registry.ages
    assert other.mmse != registry.mmse


def test_no_seed_is_random_but_reproducible_from_the_reported_seed() -> None:
    first, second = generate_registry(200), generate_registry(200)
    assert first.seed != second.seed
    assert first.user_ids != second.user_ids
    assert generate_registry(200, seed=first.seed) == first


# --- names -----------------------------------------------------------------------------------


def test_names_are_unique_case_insensitively_at_200_000() -> None:
    names = unique_names(200_000, random.Random(7))
    assert len(names) == 200_000
    assert len({name_key(name) for name in names}) == 200_000


def test_names_are_well_formed(registry: Registry) -> None:
    for name in registry.names:
        assert NAME.match(name), name
        assert 1 <= len(name) <= MAX_NAME_LENGTH
        assert name == name.strip()
        assert "  " not in name


def test_name_lists_are_clean_sorted_and_large() -> None:
    firsts, lasts = name_lists()
    assert len(firsts) > 1_000
    assert len(lasts) > 1_000
    for tokens in (firsts, lasts):
        assert all(is_name_token(token) for token in tokens)
        lowered = [name_key(token) for token in tokens]
        assert len(set(lowered)) == len(tokens)
        assert lowered == sorted(lowered)
    assert capacity() == LAYERS * len(firsts) * len(lasts)
    assert capacity() > 100_000_000


def test_cleaning_keeps_the_first_spelling_of_each_key_and_sorts_by_key() -> None:
    tokens = ["Strauß", "Anna", "STRAUSS", "anna", "Anna", "Zoé", "Strauss", "O'Brien", "x1"]
    assert _clean(tokens) == ("Anna", "O'Brien", "Strauß", "Zoé")


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        ("Adrien", True),
        ("Élodie", True),
        ("Jean-Luc", True),
        ("O'Brien", True),
        ("Müller", True),
        ("adrien", False),  # not capitalised
        ("Ana Belén", False),  # two tokens
        ("H.-Dieter", False),
        ("Jean--Luc", False),
        ("Jean-", False),
        ("İlker", False),  # lower-cases to two characters: PostgreSQL would disagree
        ("Ιωάννης", False),  # not Latin script
        ("A" * 41, False),
        ("", False),
    ],
)
def test_name_tokens(token: str, valid: bool) -> None:
    assert is_name_token(token) is valid


def test_sparse_draws_have_no_middle_initial() -> None:
    firsts, lasts = ("Ann", "Bob", "Cy"), ("Doe", "Eve")
    names = unique_names(3, random.Random(1), firsts=firsts, lasts=lasts)
    assert all(len(name.split()) == 2 for name in names)
    assert len(set(names)) == 3


def test_dense_draws_widen_with_middle_initials() -> None:
    firsts, lasts = ("Ann", "Bob", "Cy"), ("Doe", "Eve")
    every = unique_names(LAYERS * 6, random.Random(1), firsts=firsts, lasts=lasts)
    assert len({name_key(name) for name in every}) == LAYERS * 6
    assert "Ann Doe" in every
    assert "Cy Z. Eve" in every
    assert all(NAME.match(name) for name in every)
    with pytest.raises(ValueError, match="unique names"):
        unique_names(LAYERS * 6 + 1, random.Random(1), firsts=firsts, lasts=lasts)


def test_names_are_reproducible() -> None:
    assert unique_names(1_000, random.Random(5)) == unique_names(1_000, random.Random(5))
    assert unique_names(1_000, random.Random(5)) != unique_names(1_000, random.Random(6))


def test_empty_registry() -> None:
    registry = generate_registry(0, seed=0)
    assert registry.counts == RoleCounts(0, 0, 0, 0, 0)
    assert list(registry.users()) == []
    assert list(registry.patients()) == []


# --- MMSE histories ------------------------------------------------------------------------


def test_each_patient_has_a_history_ending_at_their_score(registry: Registry) -> None:
    by_patient: dict[str, list[tuple[datetime.date, int]]] = {}
    for patient_id, mmse, assessed_at in registry.assessments():
        by_patient.setdefault(patient_id, []).append((assessed_at, mmse))
    patients = list(registry.patients())
    # Patient by patient, in the patients' (user_id) order.
    assert list(by_patient) == [patient[0] for patient in patients]
    for patient_id, _, _, mmse, _ in patients:
        history = by_patient[patient_id]
        assert 1 <= len(history) <= 8
        assert history[-1][1] == mmse
        assert history[-1][0] <= registry.today
        assert [day for day, _ in history] == sorted({day for day, _ in history})
        assert all(0 <= score <= 30 for _, score in history)


def test_histories_are_reproducible_and_streamed(registry: Registry) -> None:
    streamed = registry.assessments()
    assert isinstance(streamed, Iterator)  # simulated as read, never all held at once
    first = list(streamed)
    assert list(registry.assessments()) == first
    again = generate_registry(10_000, seed=12345, today=registry.today)
    assert list(again.assessments()) == first
    other = generate_registry(10_000, seed=54321, today=registry.today)
    assert [row[1:] for row in other.assessments()] != [row[1:] for row in first]


def test_histories_end_at_the_given_day() -> None:
    day = datetime.date(2030, 6, 1)
    registry = generate_registry(300, seed=8, today=day)
    assert registry.today == day
    dates = [assessed_at for _, _, assessed_at in registry.assessments()]
    assert max(dates) <= day
    assert min(dates) >= day - datetime.timedelta(days=6 * 366 + 90)
