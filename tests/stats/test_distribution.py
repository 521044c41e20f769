"""stats.service.mmse_by_age_band: the cohort page's chart, exact and read from the
counters only (the same cost at any registry size)."""

from __future__ import annotations

from collections import Counter

import pytest

from docmemo.db.models import MAX_AGE, Role
from docmemo.stats import service
from docmemo.stats.service import (
    AGE_BAND_STARTS,
    DISTRIBUTION_SQL,
    AgeBand,
    distribution_parameters,
)
from tests.helpers import make_user
from tests.stats.test_counters import REGISTRY_TABLES, _relations_read

# (age, mmse): the edges of every band, both ends of the scale, and repeats.
PATIENTS = [
    (0, 0),
    (24, 30),
    (25, 9),
    (25, 9),
    (34, 10),
    (35, 17),
    (55, 18),
    (64, 23),
    (65, 24),
    (74, 24),
    (75, 30),
    (84, 5),
    (85, 12),
    (90, 27),
    (MAX_AGE, 29),
]


@pytest.fixture
async def registry(clean_db, pool) -> list[tuple[int, int]]:
    for age, mmse in PATIENTS:
        await make_user(pool, Role.PATIENT, age=age, mmse=mmse)
    # Others are not patients: they must not count.
    await make_user(pool, Role.CAREGIVER)
    await make_user(pool, Role.HEALTHPRO)
    return PATIENTS


def band_of(age: int) -> int:
    return max(index for index, start in enumerate(AGE_BAND_STARTS) if start <= age)


async def test_each_band_holds_exactly_its_patients_by_score(db, registry) -> None:
    bands = await service.mmse_by_age_band(db)
    assert [(b.youngest, b.oldest) for b in bands] == [
        (0, 24),
        (25, 34),
        (35, 44),
        (45, 54),
        (55, 64),
        (65, 74),
        (75, 84),
        (85, MAX_AGE),
    ]
    expected = Counter((band_of(age), mmse) for age, mmse in registry)
    for index, band in enumerate(bands):
        assert len(band.by_mmse) == 31
        for mmse, patients in enumerate(band.by_mmse):
            assert patients == expected[(index, mmse)], (band.label, mmse)


async def test_the_bands_sum_to_the_patients_of_the_registry(db, registry) -> None:
    bands = await service.mmse_by_age_band(db)
    total = sum(band.patients for band in bands)
    assert total == len(registry)
    assert total == (await service.registry_counts(db)).patients
    # The empty band (45-54) is listed, with nobody in it.
    assert (bands[3].youngest, bands[3].patients) == (45, 0)


async def test_severity_bands_follow_the_spec(db, registry) -> None:
    bands = await service.mmse_by_age_band(db)
    assert bands[1].by_severity() == {"severe": 2, "moderate": 1, "mild": 0, "normal": 0}
    assert bands[4].by_severity() == {"severe": 0, "moderate": 0, "mild": 2, "normal": 0}
    assert bands[5].by_severity() == {"severe": 0, "moderate": 0, "mild": 0, "normal": 2}
    for band in bands:
        assert sum(band.by_severity().values()) == band.patients


async def test_the_distribution_agrees_with_the_counts_of_the_api(db, registry) -> None:
    """Over/under a threshold within whole bands: the chart and the counts agree."""
    bands = await service.mmse_by_age_band(db)
    for band in bands:
        for threshold in (0, 9, 18, 24, 30):
            over = await service.count_patients(
                db, service.Comparison.OVER, threshold, band.youngest, band.oldest
            )
            under = await service.count_patients(
                db, service.Comparison.UNDER, threshold, band.youngest, band.oldest
            )
            assert over == sum(band.by_mmse[threshold + 1 :])
            assert under == sum(band.by_mmse[:threshold])


async def test_a_new_patient_and_a_new_score_move_the_distribution(db, pool, clean_db) -> None:
    record = await make_user(pool, Role.PATIENT, age=70, mmse=26)
    [band] = [b for b in await service.mmse_by_age_band(db) if b.youngest == 65]
    assert band.by_mmse[26] == 1
    await db.execute("UPDATE patients SET mmse = 12 WHERE user_id = %s", (record.user_id,))
    [band] = [b for b in await service.mmse_by_age_band(db) if b.youngest == 65]
    assert (band.by_mmse[26], band.by_mmse[12]) == (0, 1)


async def test_other_bands_can_be_asked_for(db, registry) -> None:
    whole, *_ = await service.mmse_by_age_band(db, band_starts=[0])
    assert whole == AgeBand(0, MAX_AGE, whole.by_mmse)
    assert whole.patients == len(registry)
    halves = await service.mmse_by_age_band(db, band_starts=[0, 65])
    assert [h.patients for h in halves] == [
        sum(age < 65 for age, _ in registry),
        sum(age >= 65 for age, _ in registry),
    ]


@pytest.mark.parametrize("starts", [[], [25, 35], [0, 50, 50], [0, 40, 30], [0, MAX_AGE + 1]])
async def test_bands_that_do_not_cover_every_age_once_are_refused(db, starts) -> None:
    with pytest.raises(ValueError, match="age band"):
        await service.mmse_by_age_band(db, band_starts=starts)


def test_labels_say_the_ages_in_words() -> None:
    empty = (0,) * 31
    assert AgeBand(0, 24, empty).label == "under 25"
    assert AgeBand(25, 34, empty).label == "25–34"
    assert AgeBand(85, MAX_AGE, empty).label == "85 and over"


def test_the_query_reads_the_counters_not_the_patients(sync_engine) -> None:
    read = _relations_read(sync_engine, DISTRIBUTION_SQL, distribution_parameters(AGE_BAND_STARTS))
    assert read & {"patient_counts_by_mmse", "pk_patient_counts_by_mmse"}
    assert not read & REGISTRY_TABLES
