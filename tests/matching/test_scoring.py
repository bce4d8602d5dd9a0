"""Matching scores (pure): each factor, table-driven, and the index agreeing with the reference."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace

import pytest

from server.matching import scoring
from server.matching.index import VolunteerIndex
from server.matching.scoring import NeedFeatures, VolunteerFeatures, Weights

SH = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai
HOME = (44.5500, 129.6300)
ONLY: dict[str, float] = dict.fromkeys(scoring.FACTORS, 0.0)


def need(**changes: object) -> NeedFeatures:
    values: dict[str, object] = {
        "category": "daily_life",
        "title": "水管漏水",
        "description": "厨房水管漏水，需要上门修理",
        "lat": HOME[0],
        "lng": HOME[1],
        "preferred_start": dt.datetime(2026, 11, 24, 9, 0, tzinfo=SH),  # Tuesday 09:00
        "preferred_end": dt.datetime(2026, 11, 24, 11, 0, tzinfo=SH),
    }
    values.update(changes)
    return scoring.need_features(**values)  # type: ignore[arg-type]


TUESDAY_MORNING = scoring.slot_mask([{"weekday": 1, "start": "08:00", "end": "12:00"}])
VOLUNTEER = VolunteerFeatures(
    person_id=1,
    skills=("水电维修",),
    lat=HOME[0] + 0.005,  # about 557 m north
    lng=HOME[1],
    radius_m=2000,
    slot_mask=TUESDAY_MORNING,
)


def factor(name: str, n: NeedFeatures, v: VolunteerFeatures) -> scoring.FactorScore:
    weights = Weights(**{**ONLY, name: 1.0})
    score = scoring.score_candidate(n, v, weights=weights, now=NOW)
    assert score.total == pytest.approx(score.factor(name).value)
    return score.factor(name)


@pytest.mark.parametrize(
    ("case", "n", "skills", "value", "says"),
    [
        ("keyword in the text", need(), ("水电维修",), 1.0, "需求提到“水管”"),
        ("category only", need(title="帮忙", description="需要人手"), ("代买代办",), 0.6, "同类"),
        ("best of several", need(), ("代买代办", "水电维修"), 1.0, "水电维修"),
        ("no relevant skill", need(), ("文艺活动",), 0.0, "不具备相关技能"),
        ("no skills", need(), (), 0.0, "需要：水电维修"),
        (
            "need names no skill",
            need(category="other", title="其他", description="咨询"),
            (),
            0.5,
            "未指明",
        ),
        (
            "skill name itself",
            need(category="other", title="想学书法", description="x"),
            ("文艺活动",),
            1.0,
            "书法",
        ),
    ],
)
def test_skill_fit(
    case: str, n: NeedFeatures, skills: tuple[str, ...], value: float, says: str
) -> None:
    result = factor("skill", n, replace(VOLUNTEER, skills=skills))
    assert result.value == pytest.approx(value), case
    assert says in result.explanation, case


def test_custom_community_skill_matches_by_name() -> None:
    n = need(category="other", title="想理发", description="老人行动不便", skills=("理发",))
    assert n.skill_relevance["理发"] == 1.0
    assert factor("skill", n, replace(VOLUNTEER, skills=("理发",))).value == 1.0


@pytest.mark.parametrize(
    ("case", "north_m", "radius", "value", "eligible", "says"),
    [
        ("next door", 0.0, 2000, 1.0, True, "约 0 米"),
        ("half the radius", 1000.0, 2000, 0.5, True, "约 1000 米，在服务半径 2000 米内"),
        ("at the edge", 2000.0, 2000, 0.0, True, "在服务半径"),
        ("beyond the radius", 2500.0, 2000, 0.0, False, "超出服务半径"),
    ],
)
def test_distance_within_the_volunteers_radius(
    case: str, north_m: float, radius: int, value: float, eligible: bool, says: str
) -> None:
    v = replace(
        VOLUNTEER, lat=HOME[0] + north_m / scoring.METERS_PER_DEGREE, radius_m=float(radius)
    )
    score = scoring.score_candidate(need(), v, weights=Weights(), now=NOW)
    assert score.factor("distance").value == pytest.approx(value, abs=1e-9), case
    assert score.eligible is eligible, case
    assert says in score.factor("distance").explanation, case


def test_distance_unknown_on_either_side() -> None:
    no_place = factor("distance", need(lat=None, lng=None), VOLUNTEER)
    assert (no_place.value, "未标注位置" in no_place.explanation) == (0.5, True)
    no_home = scoring.score_candidate(
        need(), replace(VOLUNTEER, lat=None, lng=None), weights=Weights(), now=NOW
    )
    assert no_home.factor("distance").value == 0.0 and no_home.eligible


@pytest.mark.parametrize(
    ("case", "slots", "start_h", "end_h", "value", "says"),
    [
        ("covers the window", [(1, "08:00", "12:00")], 9, 11, 1.0, "重合 120 分钟"),
        ("one hour of two", [(1, "10:00", "12:00")], 9, 11, 0.5, "重合 60 分钟"),
        ("another day", [(2, "08:00", "12:00")], 9, 11, 0.0, "不重合"),
        ("half an hour of a short window", [(1, "09:00", "09:30")], 9, 10, 0.5, "重合 30 分钟"),
        ("two hours of a long window", [(1, "13:00", "15:00")], 9, 18, 1.0, "重合 120 分钟"),
        ("no slots", [], 9, 11, 0.0, "未填写可服务时间"),
    ],
)
def test_availability_overlap_in_shanghai_time(
    case: str, slots: list, start_h: int, end_h: int, value: float, says: str
) -> None:
    n = need(
        preferred_start=dt.datetime(2026, 11, 24, start_h, tzinfo=SH),
        preferred_end=dt.datetime(2026, 11, 24, end_h, tzinfo=SH),
    )
    mask = scoring.slot_mask([{"weekday": d, "start": s, "end": e} for d, s, e in slots])
    result = factor("availability", n, replace(VOLUNTEER, slot_mask=mask))
    assert result.value == pytest.approx(value), case
    assert says in result.explanation, case


def test_window_given_in_utc_is_read_in_shanghai() -> None:
    # Monday 23:30 UTC is Tuesday 07:30 in Shanghai
    start = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    mask = scoring.window_mask(start, start + dt.timedelta(hours=1))
    assert mask == scoring.slot_mask([{"weekday": 1, "start": "07:30", "end": "08:30"}])
    assert "周二 07:30" in need(preferred_start=start, preferred_end=None).window_label


@pytest.mark.parametrize(
    ("start", "end", "units"),
    [
        (None, None, None),
        (dt.datetime(2026, 11, 24, 9, 10, tzinfo=SH), None, 5),  # 09:00-11:30: two hours on
        (None, dt.datetime(2026, 11, 24, 9, 0, tzinfo=SH), 4),  # the two hours before
        (  # Sunday night into Monday wraps around the week
            dt.datetime(2026, 11, 29, 23, 0, tzinfo=SH),
            dt.datetime(2026, 11, 30, 1, 0, tzinfo=SH),
            4,
        ),
        (dt.datetime(2026, 11, 1, tzinfo=SH), dt.datetime(2026, 11, 20, tzinfo=SH), 336),
    ],
)
def test_window_mask(start: dt.datetime | None, end: dt.datetime | None, units: int | None) -> None:
    mask = scoring.window_mask(start, end)
    assert (None if mask is None else mask.bit_count()) == units


def test_no_window_is_neutral() -> None:
    assert (
        factor("availability", need(preferred_start=None, preferred_end=None), VOLUNTEER).value
        == 0.5
    )


@pytest.mark.parametrize(
    ("active", "limit", "value", "eligible"),
    [(0, 2, 1.0, True), (1, 2, 0.5, True), (2, 2, 0.0, False), (3, 2, 0.0, False)],
)
def test_load(active: int, limit: int, value: float, eligible: bool) -> None:
    v = replace(VOLUNTEER, active_tasks=active, max_tasks=limit)
    score = scoring.score_candidate(need(), v, weights=Weights(), now=NOW)
    assert (score.factor("load").value, score.eligible) == (value, eligible)


@pytest.mark.parametrize(
    ("case", "record", "value", "says"),
    [
        ("newcomer: the prior", {}, 0.3 * 0.7 + 0.3 * 0.9 + 0.4 * 0.75, "新志愿者"),
        (
            "steady",
            {"accepted": 7, "completed": 7, "rating_sum": 35, "rating_count": 7},
            0.3 * (9.1 / 10) + 0.3 * (9.7 / 10) + 0.4 * ((47 / 10 - 1) / 4),
            "接单率 91%，完成率 97%，平均 5.0 星（7 次）",
        ),
        (
            "declines and drops",
            {"accepted": 2, "declined": 8, "completed": 0, "abandoned": 2},
            0.3 * (4.1 / 13) + 0.3 * (2.7 / 5) + 0.4 * 0.75,
            "暂无评分",
        ),
    ],
)
def test_reliability_with_a_prior(case: str, record: dict, value: float, says: str) -> None:
    result = factor("reliability", need(), replace(VOLUNTEER, **record))
    assert result.value == pytest.approx(value), case
    assert says in result.explanation, case


@pytest.mark.parametrize(
    ("load", "days_ago", "value"),
    [(0.0, None, 1.0), (1.0, 0, 0.5), (1.0, 14, 1 / 1.5), (3.0, 28, 1 / 1.75)],
)
def test_fairness_spreads_work(load: float, days_ago: int | None, value: float) -> None:
    at = None if days_ago is None else NOW - dt.timedelta(days=days_ago)
    v = replace(VOLUNTEER, recent_load=load, recent_load_at=at)
    assert factor("fairness", need(), v).value == pytest.approx(value)


def test_bumped_load_decays_then_adds() -> None:
    two_weeks_ago = NOW - dt.timedelta(days=14)
    assert scoring.bumped_load(2.0, two_weeks_ago, NOW) == pytest.approx(2.0)
    assert scoring.bumped_load(0.0, None, NOW) == 1.0


@pytest.mark.parametrize(
    ("categories", "member", "value", "says"),
    [
        (("daily_life",), True, 1.0, "党员，本类需求党员优先"),
        (("daily_life",), False, 0.0, "非党员"),
        (("dispute",), True, 0.0, "未设党员优先"),
    ],
)
def test_party_members_first_for_chosen_categories(
    categories: tuple[str, ...], member: bool, value: float, says: str
) -> None:
    result = factor(
        "party", need(party_categories=categories), replace(VOLUNTEER, party_member=member)
    )
    assert (result.value, says in result.explanation) == (value, True)


def test_total_is_the_sum_of_weighted_values_with_one_line_each() -> None:
    weights = Weights(skill=2.0, distance=0.0)
    score = scoring.score_candidate(need(), VOLUNTEER, weights=weights, now=NOW)
    assert score.total == pytest.approx(sum(f.weight * f.value for f in score.factors))
    assert score.factor("skill").contribution == 2.0
    assert score.factor("distance").contribution == 0.0
    ranked = scoring.ranked(score)
    assert list(ranked.factors) == list(scoring.FACTORS)
    assert [line.split("：")[0] for line in ranked.explanation] == [
        scoring.FACTOR_LABELS[name] for name in scoring.FACTORS
    ]


def test_weights_from_a_community_mapping() -> None:
    weights = Weights.from_mapping({"party": 0.5, "unknown": 9})
    assert weights.party == 0.5 and weights.skill == scoring.DEFAULT_WEIGHTS.skill


def test_rank_orders_by_score_then_person_id_and_drops_the_ineligible() -> None:
    far = replace(VOLUNTEER, person_id=5, lat=HOME[0] + 0.05)  # 5.5 km: beyond 2 km
    busy = replace(VOLUNTEER, person_id=6, active_tasks=2)
    twin_a, twin_b = replace(VOLUNTEER, person_id=9), replace(VOLUNTEER, person_id=8)
    weak = replace(VOLUNTEER, person_id=2, skills=())
    result = scoring.rank(need(), [far, busy, twin_a, weak, twin_b], weights=Weights(), now=NOW)
    assert [s.person_id for s in result] == [8, 9, 2]


def _random_volunteers(rng: random.Random, count: int) -> list[VolunteerFeatures]:
    volunteers = []
    for number in range(1, count + 1):
        start = rng.randrange(0, 40) * 30
        slots = [
            {
                "weekday": rng.randrange(7),
                "start": f"{start // 60:02d}:{start % 60:02d}",
                "end": rng.choice(["21:00", "22:30", "24:00"]),
            }
        ]
        volunteers.append(
            VolunteerFeatures(
                person_id=number,
                skills=tuple(rng.sample(scoring.DEFAULT_SKILLS, rng.randint(0, 3))),
                lat=None if rng.random() < 0.1 else HOME[0] + rng.uniform(-0.03, 0.03),
                lng=HOME[1] + rng.uniform(-0.03, 0.03),
                radius_m=float(rng.choice([1000, 2000, 3000])),
                slot_mask=scoring.slot_mask(slots) if rng.random() < 0.9 else 0,
                active_tasks=rng.randint(0, 2),
                max_tasks=rng.randint(1, 3),
                accepted=rng.choice([0, 0, 3, 10]),
                declined=rng.choice([0, 1, 4]),
                completed=rng.choice([0, 2, 9]),
                rating_sum=rng.choice([0, 14, 40]),
                rating_count=rng.choice([0, 4, 9]),
                recent_load=rng.choice([0.0, 1.0, 2.5]),
                recent_load_at=NOW - dt.timedelta(hours=rng.randint(0, 900)),
                party_member=rng.random() < 0.4,
            )
        )
    return volunteers


@pytest.mark.parametrize(
    "now",
    [NOW, dt.datetime.now(dt.UTC) + dt.timedelta(days=3)],
    ids=["before-the-index-was-built", "after-the-index-was-built"],
)
def test_index_ranks_exactly_as_the_reference(now: dt.datetime) -> None:
    """The vectorised index returns the same list, scores and order as ``scoring.rank``, for a
    ranking moment before or after the index was built (its decay is relative to that)."""
    rng = random.Random(20261122)
    volunteers = _random_volunteers(rng, 800)
    # many identical newcomers at one spot: ties must go to the lower person ids, as in rank
    twins = [VolunteerFeatures(person_id=5000 - i, lat=HOME[0], lng=HOME[1]) for i in range(40)]
    index = VolunteerIndex(community_id=1)
    for v in volunteers + twins:
        index.upsert(v)
    for _ in range(80):
        start = NOW + dt.timedelta(minutes=30 * rng.randrange(0, 400))
        n = need(
            category=rng.choice(list(scoring.CATEGORY_SKILLS)),
            title=rng.choice(["水管漏水", "老人买菜", "帮忙", "邻里噪音"]),
            description="",
            lat=rng.choice([None, HOME[0] + rng.uniform(-0.02, 0.02)]),
            preferred_start=rng.choice([None, start]),
            preferred_end=None,
            party_categories=rng.choice([(), ("daily_life", "dispute")]),
        )
        weights = Weights(party=rng.choice([0.1, 0.0]), skill=rng.choice([0.3, 0.0]))
        exclude = set(rng.sample(range(1, 801), 20))
        limit = rng.choice([1, 5, 20])
        expected = scoring.rank(
            n,
            [v for v in volunteers + twins if v.person_id not in exclude],
            weights=weights,
            now=now,
            limit=limit,
        )
        got = index.rank(n, weights=weights, now=now, limit=limit, exclude=exclude)
        assert [s.person_id for s in got] == [s.person_id for s in expected]
        # the index keeps times as hours since 1970: the fairness decay may differ in the 12th digit
        assert [s.total for s in got] == pytest.approx([s.total for s in expected], abs=1e-9)


def test_index_upsert_replaces_and_remove_drops() -> None:
    index = VolunteerIndex(community_id=1, capacity=1)
    index.upsert(VOLUNTEER)
    index.upsert(replace(VOLUNTEER, person_id=2))
    assert [s.person_id for s in index.rank(need(), weights=Weights(), now=NOW)] == [1, 2]
    index.upsert(replace(VOLUNTEER, active_tasks=2))  # now full
    index.remove(2)
    assert index.rank(need(), weights=Weights(), now=NOW) == []
    assert index.stats().rows == 1
