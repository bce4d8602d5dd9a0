"""An in-memory columnar index of one community's volunteers, for ranking many at once (no I/O).

Each volunteer is one row of numpy columns (location, radius, skill bits, 336-bit weekly
availability as six 64-bit words, load, reliability, recent load, party flag). Ranking a need is
a handful of vectorised passes over the columns: the hard filters (load below the limit, inside
the volunteer's own service radius, not excluded), then every factor's value with the formulas
of ``scoring``, then the best rows by total. Those few are scored again by
``scoring.score_candidate`` itself, which gives the explanation and the final order.

Rows are added or replaced one by one (``upsert``) from ``values_list`` rows; the service keeps
the index fresh by polling recently updated profiles.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.matching import scoring
from server.matching.scoring import (
    CandidateScore,
    NeedFeatures,
    VolunteerFeatures,
    Weights,
)

WORDS = math.ceil(scoring.WEEK_UNITS / 64)  # 6 words of 64 bits hold the 336 half hours
SKILL_BITS = 64  # skill names beyond the first 64 seen are scored only by the exact pass
EXACT_MARGIN = 10  # rows re-scored exactly beyond the limit, so float ties cannot drop one
TIE_EPSILON = 1e-9  # closer totals are ties (numpy and Python may differ in the last bit)
INITIAL_CAPACITY = 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# The profile columns one row is built from, in this order (with the person's party flag).
COLUMNS = (
    "person_id",
    "skills",
    "availability",
    "home_lat",
    "home_lng",
    "service_radius_m",
    "max_concurrent_tasks",
    "active_tasks",
    "accepted_count",
    "declined_count",
    "completed_count",
    "abandoned_count",
    "rating_sum",
    "rating_count",
    "recent_load",
    "recent_load_at",
    "person__is_party_member",
)


def features_from_row(row: Sequence[Any]) -> VolunteerFeatures:
    """A ``values_list(*COLUMNS)`` row as scoring features."""
    (
        person_id,
        skills,
        availability,
        lat,
        lng,
        radius,
        max_tasks,
        active,
        accepted,
        declined,
        completed,
        abandoned,
        rating_sum,
        rating_count,
        recent_load,
        recent_load_at,
        party,
    ) = row
    has_home = lat is not None and lng is not None
    return VolunteerFeatures(
        person_id=person_id,
        skills=tuple(skills or ()),
        lat=lat if has_home else None,
        lng=lng if has_home else None,
        radius_m=float(radius),
        slot_mask=scoring.slot_mask(availability or ()),
        active_tasks=active,
        max_tasks=max_tasks,
        accepted=accepted,
        declined=declined,
        completed=completed,
        abandoned=abandoned,
        rating_sum=rating_sum,
        rating_count=rating_count,
        recent_load=float(recent_load),
        recent_load_at=recent_load_at,
        party_member=bool(party),
    )


def _hours(moment: dt.datetime) -> float:
    return (moment - EPOCH).total_seconds() / 3600.0


def mask_words(mask: int) -> np.ndarray:
    """A week mask as ``WORDS`` unsigned 64-bit words, least significant first."""
    return np.array([(mask >> (64 * i)) & 0xFFFF_FFFF_FFFF_FFFF for i in range(WORDS)], np.uint64)


@dataclass
class IndexStats:
    rows: int
    nbytes: int


class VolunteerIndex:
    """The volunteers of one community as columns (see the module docstring)."""

    person_id: np.ndarray
    alive: np.ndarray
    lat: np.ndarray  # NaN: no home given
    lng: np.ndarray
    radius: np.ndarray
    skills: np.ndarray  # bit i set: has the skill of skill_bit == i
    slots: np.ndarray  # (rows, WORDS) week masks
    slot_any: np.ndarray
    active: np.ndarray
    max_tasks: np.ndarray
    reliability: np.ndarray  # scoring.reliability_value
    recent_load: np.ndarray
    recent_hours: np.ndarray  # recent_load_at in hours since 1970 (NaN: never)
    party: np.ndarray
    record: np.ndarray  # (rows, 6): accepted, declined, completed, abandoned, rating sum, count

    def __init__(self, community_id: int, capacity: int = INITIAL_CAPACITY) -> None:
        self.community_id = community_id
        self.size = 0
        self.row_of: dict[int, int] = {}
        self.skill_bit: dict[str, int] = {}
        self.skill_names: list[str] = []  # bit -> name
        self.extra_skills: dict[int, tuple[str, ...]] = {}  # row -> skills beyond the 64 bits
        # Only numpy columns and a few dicts: 100,000 small Python objects would make every
        # full garbage collection of the process walk them (pauses of 100 ms and more).
        self._allocate(max(capacity, 1))

    def _allocate(self, capacity: int) -> None:
        def grow(name: str, shape: tuple[int, ...], dtype: Any, fill: Any) -> None:
            column = np.full(shape, fill, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                column[: self.size] = old[: self.size]
            setattr(self, name, column)

        grow("person_id", (capacity,), np.int64, 0)
        grow("alive", (capacity,), np.bool_, False)
        grow("lat", (capacity,), np.float64, np.nan)
        grow("lng", (capacity,), np.float64, np.nan)
        grow("radius", (capacity,), np.float64, 0.0)
        grow("skills", (capacity,), np.uint64, 0)
        grow("slots", (capacity, WORDS), np.uint64, 0)
        grow("slot_any", (capacity,), np.bool_, False)
        grow("active", (capacity,), np.int32, 0)
        grow("max_tasks", (capacity,), np.int32, 0)
        grow("reliability", (capacity,), np.float64, 0.0)
        grow("recent_load", (capacity,), np.float64, 0.0)
        grow("recent_hours", (capacity,), np.float64, np.nan)
        grow("party", (capacity,), np.bool_, False)
        grow("record", (capacity, 6), np.int32, 0)
        self.capacity = capacity

    # --- writing -------------------------------------------------------------------------

    def upsert(self, features: VolunteerFeatures) -> None:
        """Add the volunteer, or replace their row."""
        row = self.row_of.get(features.person_id)
        if row is None:
            if self.size == self.capacity:
                self._allocate(self.capacity * 2)
            row = self.size
            self.size += 1
            self.row_of[features.person_id] = row
        self.person_id[row] = features.person_id
        self.alive[row] = True
        has_home = features.lat is not None and features.lng is not None
        self.lat[row] = features.lat if has_home else np.nan
        self.lng[row] = features.lng if has_home else np.nan
        self.radius[row] = features.radius_m
        bits = 0
        extra = []
        for skill in features.skills:
            bit = self.skill_bit.get(skill)
            if bit is None and len(self.skill_bit) < SKILL_BITS:
                bit = self.skill_bit[skill] = len(self.skill_bit)
                self.skill_names.append(skill)
            if bit is None:
                extra.append(skill)
            else:
                bits |= 1 << bit
        self.skills[row] = bits
        if extra:
            self.extra_skills[row] = tuple(extra)
        else:
            self.extra_skills.pop(row, None)
        self.slots[row] = mask_words(features.slot_mask)
        self.slot_any[row] = features.slot_mask != 0
        self.active[row] = features.active_tasks
        self.max_tasks[row] = features.max_tasks
        self.reliability[row] = scoring.reliability_value(features)
        load_at = features.recent_load_at
        self.recent_load[row] = features.recent_load if load_at is not None else 0.0
        self.recent_hours[row] = _hours(load_at) if load_at is not None else np.nan
        self.party[row] = features.party_member
        self.record[row] = (
            features.accepted,
            features.declined,
            features.completed,
            features.abandoned,
            features.rating_sum,
            features.rating_count,
        )

    def features(self, row: int) -> VolunteerFeatures:
        """The row as scoring features again (for the exact pass over the few best rows)."""
        bits = int(self.skills[row])
        skills = tuple(name for bit, name in enumerate(self.skill_names) if bits >> bit & 1)
        hours = float(self.recent_hours[row])
        accepted, declined, completed, abandoned, rating_sum, rating_count = (
            int(value) for value in self.record[row]
        )
        has_home = not math.isnan(self.lat[row])
        return VolunteerFeatures(
            person_id=int(self.person_id[row]),
            skills=skills + self.extra_skills.get(row, ()),
            lat=float(self.lat[row]) if has_home else None,
            lng=float(self.lng[row]) if has_home else None,
            radius_m=float(self.radius[row]),
            slot_mask=sum(int(word) << (64 * i) for i, word in enumerate(self.slots[row])),
            active_tasks=int(self.active[row]),
            max_tasks=int(self.max_tasks[row]),
            accepted=accepted,
            declined=declined,
            completed=completed,
            abandoned=abandoned,
            rating_sum=rating_sum,
            rating_count=rating_count,
            recent_load=float(self.recent_load[row]),
            recent_load_at=None if math.isnan(hours) else EPOCH + dt.timedelta(hours=hours),
            party_member=bool(self.party[row]),
        )

    def remove(self, person_id: int) -> None:
        """Drop the volunteer (their row stays, marked dead)."""
        row = self.row_of.get(person_id)
        if row is not None:
            self.alive[row] = False

    def stats(self) -> IndexStats:
        arrays = [value for value in vars(self).values() if isinstance(value, np.ndarray)]
        return IndexStats(
            rows=int(self.alive[: self.size].sum()), nbytes=sum(a.nbytes for a in arrays)
        )

    # --- ranking ---------------------------------------------------------------------------

    def _values(
        self, need: NeedFeatures, rows: np.ndarray, distance: np.ndarray | None, now: dt.datetime
    ) -> dict[str, np.ndarray | float]:
        """Each factor's value for these rows, with the formulas of ``scoring``."""
        values: dict[str, np.ndarray | float] = {}
        if not need.skill_relevance:
            values["skill"] = scoring.NEUTRAL
        else:
            fit = np.zeros(len(rows))
            bits = self.skills[rows]
            for skill, relevance in need.skill_relevance.items():
                bit = self.skill_bit.get(skill)
                if bit is not None:
                    has = (bits & np.uint64(1 << bit)) != 0
                    fit = np.maximum(fit, np.where(has, relevance, 0.0))
            values["skill"] = fit
        if distance is None:
            values["distance"] = scoring.NEUTRAL
        else:
            radius = self.radius[rows]
            safe = np.where(radius > 0, radius, 1.0)
            value = np.clip(1.0 - distance / safe, 0.0, 1.0)
            values["distance"] = np.where(np.isnan(distance) | (radius <= 0), 0.0, value)
        if need.window_mask is None:
            values["availability"] = scoring.NEUTRAL
        else:
            overlap = np.bitwise_count(self.slots[rows] & mask_words(need.window_mask)).sum(axis=1)
            full = min(need.window_units, scoring.FULL_OVERLAP_UNITS)
            values["availability"] = np.minimum(1.0, overlap / full)
        limit = np.maximum(self.max_tasks[rows], 1)
        values["load"] = np.clip(1.0 - self.active[rows] / limit, 0.0, 1.0)
        values["reliability"] = self.reliability[rows]
        age = np.maximum(0.0, _hours(now) - self.recent_hours[rows])
        load = self.recent_load[rows] * 0.5 ** (age / scoring.LOAD_HALF_LIFE_HOURS)
        known = (self.recent_load[rows] > 0) & ~np.isnan(self.recent_hours[rows])
        values["fairness"] = 1.0 / (1.0 + np.where(known, load, 0.0))
        values["party"] = self.party[rows].astype(np.float64) if need.party_first else 0.0
        return values

    def shortlist(
        self,
        need: NeedFeatures,
        *,
        weights: Weights,
        now: dt.datetime,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[int]:
        """Rows of the ``limit`` best eligible volunteers by the vectorised score (unordered)."""
        n = self.size
        eligible = self.alive[:n] & (self.active[:n] < self.max_tasks[:n])
        for person_id in exclude:
            row = self.row_of.get(person_id)
            if row is not None:
                eligible[row] = False
        distance_all: np.ndarray | None = None
        if need.lat is not None and need.lng is not None:
            kx = math.cos(math.radians(need.lat)) * scoring.METERS_PER_DEGREE
            dx = (self.lng[:n] - need.lng) * kx
            dy = (self.lat[:n] - need.lat) * scoring.METERS_PER_DEGREE
            distance_all = np.sqrt(dx * dx + dy * dy)  # NaN where the volunteer gave no home
            eligible &= ~(distance_all > self.radius[:n])  # NaN compares False: stays eligible
        rows = np.flatnonzero(eligible)
        if len(rows) == 0:
            return []
        distance = distance_all[rows] if distance_all is not None else None
        values = self._values(need, rows, distance, now)
        total = np.zeros(len(rows))
        for name in scoring.FACTORS:  # the same order as score_candidate sums them
            total = total + getattr(weights, name) * values[name]
        if limit >= len(rows):
            return [int(r) for r in rows]
        # the limit-th best total; ties around it go to the lower person ids, as in scoring.rank
        threshold = -np.partition(-total, limit - 1)[limit - 1]
        above = rows[total > threshold + TIE_EPSILON]
        tied = rows[np.abs(total - threshold) <= TIE_EPSILON]
        tied = tied[np.argsort(self.person_id[tied], kind="stable")][: limit - len(above)]
        return [int(r) for r in np.concatenate([above, tied])]

    def rank(
        self,
        need: NeedFeatures,
        *,
        weights: Weights,
        now: dt.datetime,
        limit: int = 20,
        exclude: Collection[int] = (),
    ) -> list[CandidateScore]:
        """The best eligible volunteers, highest first: the same list as ``scoring.rank``."""
        if limit <= 0:
            return []
        rows = self.shortlist(
            need, weights=weights, now=now, limit=limit + EXACT_MARGIN, exclude=exclude
        )
        scores = []
        for row in rows:
            score = scoring.score_candidate(need, self.features(row), weights=weights, now=now)
            if score.eligible:
                scores.append(score)
        scores.sort(key=lambda s: (-s.total, s.person_id))
        return scores[:limit]
