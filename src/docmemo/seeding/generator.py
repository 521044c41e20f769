"""The procedural registry of SPEC §2, generated in memory without touching a database.

Kept pure (a seed in, plain lists out) so that its rules - proportions, ranges,
fair caregiver assignment, reproducibility - are testable in milliseconds and the
loader in ``service.py`` only has to move rows.

Layout: one list of user ids and one of names, in role blocks
``[patients | caregivers | general | psychologists | neurologists]`` (ids sorted
within each block, see ``_sort_within_blocks``), plus parallel per-patient lists
(age, MMSE, caregiver id). Parallel lists of strings and shared small ints cost
a few pointers per row, where an object per user would cost hundreds of bytes:
1,000,000 users take about 320 MB at peak, names and ids included.

Reproducibility: everything comes from one ``random.Random(seed)`` in a fixed
order (ids, names, ages, MMSE, caregiver assignment), so the same seed, Faker
version and Python version give the very same registry.

MMSE histories (``Registry.histories``) are not part of the registry: 1,000,000
users have about 2.7 million assessments, which as objects would double the peak.
They are simulated when read (``docmemo.seeding.history``), patient by patient,
from a second generator seeded from the same seed, so they too are the same for
the same seed (and the same ``today``, the day they end at).
"""

from __future__ import annotations

import datetime
import heapq
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from docmemo.db.models import Role, Specialty
from docmemo.seeding.history import simulate_history
from docmemo.seeding.names import unique_names

AGE_RANGE = (25, 90)  # inclusive, SPEC §2
MMSE_RANGE = (5, 30)  # inclusive, SPEC §2

# (role, specialty, percentage): the shares of SPEC §2, in tie-breaking order.
SHARES: tuple[tuple[Role, Specialty | None, int], ...] = (
    (Role.PATIENT, None, 60),
    (Role.CAREGIVER, None, 25),
    (Role.HEALTHPRO, Specialty.GENERAL, 7),
    (Role.HEALTHPRO, Specialty.PSYCHOLOGIST, 5),
    (Role.HEALTHPRO, Specialty.NEUROLOGIST, 3),
)

# uuid.UUID(int=bits, version=4).hex, without building a UUID object per user.
_UUID4_CLEAR = ((1 << 128) - 1) & ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


@dataclass(frozen=True, slots=True)
class RoleCounts:
    """How many users of each role and specialty."""

    patients: int
    caregivers: int
    general: int
    psychologists: int
    neurologists: int

    @property
    def healthpros(self) -> int:
        return self.general + self.psychologists + self.neurologists

    @property
    def total(self) -> int:
        return self.patients + self.caregivers + self.healthpros

    def sizes(self) -> tuple[int, int, int, int, int]:
        """The counts in ``SHARES`` order: the sizes of the registry's role blocks."""
        return (
            self.patients,
            self.caregivers,
            self.general,
            self.psychologists,
            self.neurologists,
        )


def role_counts(users: int) -> RoleCounts:
    """Split ``users`` into the SPEC §2 shares, exactly, for any count.

    Largest-remainder (Hamilton) method: each group first gets
    ``floor(users * share / 100)``; the users still unassigned (at most four) go
    one each to the groups with the largest remainders ``users * share % 100``,
    ties going to the group listed first in ``SHARES`` (patients, caregivers,
    general, psychologists, neurologists). Counts therefore always sum to
    ``users``, are exact when ``users`` is a multiple of 100, and every group is
    within one user of its exact share. Examples: 1 -> one patient;
    7 -> 4 patients, 2 caregivers, 1 general practitioner.
    """
    if users < 0:
        raise ValueError("the number of users cannot be negative")
    counts = [users * share // 100 for _, _, share in SHARES]
    remainders = [users * share % 100 for _, _, share in SHARES]
    by_remainder = sorted(range(len(SHARES)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[: users - sum(counts)]:
        counts[i] += 1
    return RoleCounts(*counts)


def random_user_ids(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct random version-4 UUIDs as 32 lowercase hex characters."""
    ids = [f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}" for _ in range(n)]
    if len(set(ids)) != n:  # 122 random bits: never in practice, but cheap to guarantee.
        seen: set[str] = set()
        for i, user_id in enumerate(ids):
            while user_id in seen:
                user_id = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
            seen.add(user_id)
            ids[i] = user_id
    return ids


def _sort_within_blocks(user_ids: list[str], counts: RoleCounts) -> None:
    """Sort the ids inside each role block, in place.

    Ids stay random and unrelated to names and patient data (those are paired by
    position afterwards), but each table then receives its rows in primary-key
    order: B-tree inserts and foreign-key look-ups walk the indexes sequentially
    instead of randomly, which halves the load time of 1,000,000 users.
    """
    start = 0
    for size in counts.sizes():
        user_ids[start : start + size] = sorted(user_ids[start : start + size])
        start += size


def fair_assignment(
    patients: int, caregiver_ids: list[str], rng: random.Random
) -> list[str | None]:
    """The caregiver of each patient: every caregiver gets floor(P/C) or ceil(P/C).

    Dealing caregivers round-robin gives the floor/ceil property; shuffling the
    dealt list is the same as shuffling the patients first, so who gets whom is
    random. Without caregivers every patient has ``None``.
    """
    if not caregiver_ids:
        return [None] * patients
    n_caregivers = len(caregiver_ids)
    assignment: list[str | None] = [caregiver_ids[j % n_caregivers] for j in range(patients)]
    rng.shuffle(assignment)
    return assignment


@dataclass(frozen=True, slots=True)
class Registry:
    """A generated registry: parallel lists, users in role blocks (see module doc)."""

    seed: int
    counts: RoleCounts
    user_ids: list[str]
    names: list[str]
    ages: list[int]
    mmse: list[int]
    caregiver_of: list[str | None]
    today: datetime.date  # the day the MMSE histories end at (their last visit: 0-90 days before)

    def _block(self, index: int) -> range:
        sizes = self.counts.sizes()
        start = sum(sizes[:index])
        return range(start, start + sizes[index])

    @property
    def patient_range(self) -> range:
        return self._block(0)

    @property
    def caregiver_range(self) -> range:
        return self._block(1)

    @property
    def healthpro_range(self) -> range:
        patients_and_caregivers = self.counts.patients + self.counts.caregivers
        return range(patients_and_caregivers, patients_and_caregivers + self.counts.healthpros)

    def specialty_range(self, specialty: Specialty) -> range:
        return self._block(next(i for i, share in enumerate(SHARES) if share[1] == specialty))

    def users(self) -> Iterator[tuple[str, str, str]]:
        """``(user_id, name, status)`` for every user, in ``user_id`` order."""
        ids, names = self.user_ids, self.names

        def block(indices: range, status: str) -> Iterator[tuple[str, str, str]]:
            for i in indices:
                yield ids[i], names[i], status

        # Each block is sorted by id (see _sort_within_blocks): merging keeps the order.
        return heapq.merge(
            block(self.patient_range, Role.PATIENT.value),
            block(self.caregiver_range, Role.CAREGIVER.value),
            *(block(self.specialty_range(s), Role.HEALTHPRO.value) for s in Specialty),
        )

    def caregivers(self) -> Iterator[tuple[str, str]]:
        """``(user_id, name)`` for every caregiver."""
        ids, names = self.user_ids, self.names
        for i in self.caregiver_range:
            yield ids[i], names[i]

    def healthpros(self) -> Iterator[tuple[str, str, str]]:
        """``(user_id, name, specialty)`` for every health professional."""
        ids, names = self.user_ids, self.names
        for specialty in Specialty:
            value = specialty.value
            for i in self.specialty_range(specialty):
                yield ids[i], names[i], value

    def patients(self) -> Iterator[tuple[str, str, int, int, str | None]]:
        """``(user_id, name, age, mmse, caregiver_id)`` for every patient."""
        return zip(
            self.user_ids[: self.counts.patients],
            self.names[: self.counts.patients],
            self.ages,
            self.mmse,
            self.caregiver_of,
            strict=True,
        )

    def histories(self) -> Iterator[list[tuple[datetime.date, int]]]:
        """Every patient's MMSE history ``[(assessed_at, mmse), ...]``, in the order of
        ``patients()``, each oldest first and ending at the patient's current score.
        Simulated as they are read, so each call gives them anew, the same each time."""
        # Seeded on purpose, like the registry; a str seed is hashed with SHA-512, so
        # this stream is unrelated to the registry's own and to other seeds'.
        rng = random.Random(f"{self.seed}:assessments")  # noqa: S311
        today = self.today
        for age, mmse in zip(self.ages, self.mmse, strict=True):
            yield simulate_history(rng, mmse, age, today)

    def assessments(self) -> Iterator[tuple[str, int, datetime.date]]:
        """``(patient_id, mmse, assessed_at)`` of every assessment of ``histories()``."""
        patient_ids = self.user_ids[: self.counts.patients]
        for patient_id, history in zip(patient_ids, self.histories(), strict=True):
            for assessed_at, score in history:
                yield patient_id, score, assessed_at


def generate_registry(
    users: int, seed: int | None = None, today: datetime.date | None = None
) -> Registry:
    """Generate ``users`` users by the rules of SPEC §2.

    ``seed=None`` draws a fresh random seed; it is kept in ``Registry.seed`` so
    that a random run can still be reproduced. ``today`` (default: today) is the day
    the MMSE histories end at.
    """
    counts = role_counts(users)
    if seed is None:
        seed = secrets.randbits(63)
    # Seeded on purpose: demo data must be reproducible. Ids are identifiers, not secrets
    # (session tokens come from ``secrets``), so predictability from the seed is fine.
    rng = random.Random(seed)  # noqa: S311
    user_ids = random_user_ids(users, rng)
    _sort_within_blocks(user_ids, counts)
    names = unique_names(users, rng)
    ages = rng.choices(range(AGE_RANGE[0], AGE_RANGE[1] + 1), k=counts.patients)
    mmse = rng.choices(range(MMSE_RANGE[0], MMSE_RANGE[1] + 1), k=counts.patients)
    caregiver_block = slice(counts.patients, counts.patients + counts.caregivers)
    caregiver_of = fair_assignment(counts.patients, user_ids[caregiver_block], rng)
    return Registry(
        seed=seed,
        counts=counts,
        user_ids=user_ids,
        names=names,
        ages=ages,
        mmse=mmse,
        caregiver_of=caregiver_of,
        today=today if today is not None else datetime.date.today(),
    )
