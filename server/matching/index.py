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
EXACT_MARGIN = 3  # rows re-scored exactly beyond the limit, so float ties cannot drop one
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
    slots: np.ndarray  # (WORDS, rows): week masks, one contiguous column per 64 half hours
    slot_any: np.ndarray
    active: np.ndarray
    max_tasks: np.ndarray
    reliability: np.ndarray  # scoring.reliability_value
    recent_load: np.ndarray
    recent_hours: np.ndarray  # recent_load_at in hours since 1970 (NaN: never)
    # recent_load × 2^((recent_hours - base_hours) / half-life): the load decayed to any later
    # moment is then this times one number, 2^(-(now - base_hours) / half-life)
    recent_weight: np.ndarray
    load_value: np.ndarray  # 1 - active / max: the load factor's value
    party: np.ndarray
    record: np.ndarray  # (6, rows): accepted, declined, completed, abandoned, rating sum, count

    def __init__(self, community_id: int, capacity: int = INITIAL_CAPACITY) -> None:
        self.community_id = community_id
        self.size = 0
        self.row_of: dict[int, int] = {}
        self.base_hours = _hours(dt.datetime.now(dt.UTC))
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
                column[..., : self.size] = old[..., : self.size]
            setattr(self, name, column)

        grow("person_id", (capacity,), np.int64, 0)
        grow("alive", (capacity,), np.bool_, False)
        grow("lat", (capacity,), np.float64, np.nan)
        grow("lng", (capacity,), np.float64, np.nan)
        grow("radius", (capacity,), np.float64, 0.0)
        grow("skills", (capacity,), np.uint64, 0)
        grow("slots", (WORDS, capacity), np.uint64, 0)
        grow("slot_any", (capacity,), np.bool_, False)
        grow("active", (capacity,), np.int32, 0)
        grow("max_tasks", (capacity,), np.int32, 0)
        grow("reliability", (capacity,), np.float64, 0.0)
        grow("recent_load", (capacity,), np.float64, 0.0)
        grow("recent_hours", (capacity,), np.float64, np.nan)
        grow("party", (capacity,), np.bool_, False)
        grow("record", (6, capacity), np.int32, 0)
        grow("recent_weight", (capacity,), np.float64, 0.0)
        grow("load_value", (capacity,), np.float64, 0.0)
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
        self.slots[:, row] = mask_words(features.slot_mask)
        self.slot_any[row] = features.slot_mask != 0
        self.active[row] = features.active_tasks
        self.max_tasks[row] = features.max_tasks
        self.reliability[row] = scoring.reliability_value(features)
        load_at = features.recent_load_at
        self.recent_load[row] = features.recent_load if load_at is not None else 0.0
        self.recent_hours[row] = _hours(load_at) if load_at is not None else np.nan
        weight = 0.0
        if load_at is not None and features.recent_load > 0:
            exponent = (_hours(load_at) - self.base_hours) / scoring.LOAD_HALF_LIFE_HOURS
            weight = features.recent_load * 2.0 ** max(exponent, -1000.0)
        self.recent_weight[row] = weight
        self.load_value[row] = scoring.load_value(features.active_tasks, features.max_tasks)
        self.party[row] = features.party_member
        self.record[:, row] = (
            features.accepted,
            features.declined,
            features.completed,
            features.abandoned,
            features.rating_sum,
            features.rating_count,
        )

    def features(self, rows: Sequence[int]) -> list[VolunteerFeatures]:
        """The rows as scoring features again (for the exact pass over the few best rows)."""
        pick = np.asarray(rows, dtype=np.int64)

        def column(array: np.ndarray) -> list[Any]:
            return list(array[..., pick].tolist())

        words = np.asarray(self.slots[:, pick]).T.tolist()
        records = np.asarray(self.record[:, pick]).T.tolist()
        result = []
        for i, (
            row,
            person_id,
            bits,
            lat,
            lng,
            radius,
            active,
            max_tasks,
            load,
            hours,
            party,
        ) in enumerate(
            zip(
                rows,
                column(self.person_id),
                column(self.skills),
                column(self.lat),
                column(self.lng),
                column(self.radius),
                column(self.active),
                column(self.max_tasks),
                column(self.recent_load),
                column(self.recent_hours),
                column(self.party),
                strict=True,
            )
        ):
            accepted, declined, completed, abandoned, rating_sum, rating_count = records[i]
            has_home = not math.isnan(lat)
            result.append(
                VolunteerFeatures(
                    person_id=person_id,
                    skills=tuple(n for b, n in enumerate(self.skill_names) if bits >> b & 1)
                    + self.extra_skills.get(row, ()),
                    lat=lat if has_home else None,
                    lng=lng if has_home else None,
                    radius_m=radius,
                    slot_mask=sum(word << (64 * w) for w, word in enumerate(words[i])),
                    active_tasks=active,
                    max_tasks=max_tasks,
                    accepted=accepted,
                    declined=declined,
                    completed=completed,
                    abandoned=abandoned,
                    rating_sum=rating_sum,
                    rating_count=rating_count,
                    recent_load=load,
                    recent_load_at=None if math.isnan(hours) else EPOCH + dt.timedelta(hours=hours),
                    party_member=party,
                )
            )
        return result

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
        self, need: NeedFeatures, pick: Any, distance: np.ndarray | None, now: dt.datetime
    ) -> dict[str, np.ndarray | float]:
        """Each factor's value for the picked rows (a slice or an index array), with the
        formulas of ``scoring``."""
        values: dict[str, np.ndarray | float] = {}
        if not need.skill_relevance:
            values["skill"] = scoring.NEUTRAL
        else:
            bits = self.skills[pick]
            # one bit mask per relevance level, best level first: a row takes the first it hits
            levels: dict[float, int] = {}
            for skill, relevance in need.skill_relevance.items():
                bit = self.skill_bit.get(skill)
                if bit is not None:
                    levels[relevance] = levels.get(relevance, 0) | 1 << bit
            fit: Any = 0.0
            for relevance, mask in sorted(levels.items()):
                fit = np.where((bits & np.uint64(mask)) != 0, relevance, fit)
            values["skill"] = np.broadcast_to(np.asarray(fit, dtype=np.float64), bits.shape)
        if distance is None:
            values["distance"] = scoring.NEUTRAL
        else:
            radius = self.radius[pick]
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.clip(1.0 - distance / radius, 0.0, 1.0)
            values["distance"] = np.where(np.isnan(distance) | (radius <= 0), 0.0, value)
        if need.window_mask is None:
            values["availability"] = scoring.NEUTRAL
        else:
            words = mask_words(need.window_mask)
            overlap: Any = 0
            for word in np.flatnonzero(words):  # a few hours touch one or two of the six words
                overlap = overlap + np.bitwise_count(self.slots[word][pick] & words[word])
            full = min(need.window_units, scoring.FULL_OVERLAP_UNITS)
            # overlap counts whole half hours: capping the count first gives the same values
            values["availability"] = np.minimum(overlap, full) / full
        values["load"] = self.load_value[pick]
        values["reliability"] = self.reliability[pick]
        # a volunteer's recent load decays by the same factor for everyone: one multiplication
        # (capped: a ``now`` long before the index was built must not overflow to inf × 0 = NaN)
        exponent = min((self.base_hours - _hours(now)) / scoring.LOAD_HALF_LIFE_HOURS, 1000.0)
        fairness = self.recent_weight[pick] * 2.0**exponent
        # a load recorded after ``now`` counts in full, as in scoring.decayed_load: its weight
        # times the decay would exceed the load itself, so the smaller of the two is the value
        np.minimum(fairness, self.recent_load[pick], out=fairness)
        fairness += 1.0
        values["fairness"] = np.reciprocal(fairness, out=fairness)
        values["party"] = self.party[pick].astype(np.float64) if need.party_first else 0.0
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
        # Few survivors (a need with a place): work on copies of their rows. Many (no place):
        # work on whole columns, cheaper than gathering, and drop the ineligible at the end.
        dense = len(rows) * 4 > n
        pick: Any = slice(0, n) if dense else rows
        distance = None if distance_all is None else distance_all[pick]
        values = self._values(need, pick, distance, now)
        total = np.zeros(n if dense else len(rows))
        term = np.empty_like(total)
        for name in scoring.FACTORS:  # the same order as score_candidate sums them
            value = values[name]
            if isinstance(value, float):
                total += getattr(weights, name) * value
            else:
                np.multiply(value, getattr(weights, name), out=term)
                total += term
        if dense:
            total = total[rows]
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
        for features in self.features(rows):
            score = scoring.score_candidate(need, features, weights=weights, now=now)
            if score.eligible:
                scores.append(score)
        scores.sort(key=lambda s: (-s.total, s.person_id))
        return scores[:limit]
