"""How well a volunteer fits a need (志愿者匹配评分): pure functions, no I/O.

A candidate's score is the sum over seven factors of ``weight × value`` with every value in
[0, 1]: skill fit, distance, availability, current load, reliability, fairness and (for the
categories a community chooses) party members first. Each factor also gets one line of Chinese
explanation, so the secretary sees why a volunteer ranks where they do.

``server.matching.index`` computes the same values for many volunteers at once with numpy; the
formulas here are the reference, and the index's results are checked against them in tests.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import NamedTuple
from zoneinfo import ZoneInfo

from server.volunteers.models import DEFAULT_SKILLS

FACTORS = ("skill", "distance", "availability", "load", "reliability", "fairness", "party")
FACTOR_LABELS = {
    "skill": "技能",
    "distance": "距离",
    "availability": "时间",
    "load": "负荷",
    "reliability": "可靠度",
    "fairness": "公平",
    "party": "党员优先",
}
NEUTRAL = 0.5  # a factor the need says nothing about ranks nobody up or down

# --- skills ----------------------------------------------------------------------------------

KEYWORD_RELEVANCE = 1.0  # the text names what the skill does
CATEGORY_RELEVANCE = 0.6  # the skill usually serves needs of this category
# Which skills usually serve each of the eight "1258" categories (keys are Category values).
CATEGORY_SKILLS: dict[str, tuple[str, ...]] = {
    "space": ("矛盾调解", "环境清洁"),
    "safety": ("水电维修", "家电维修", "医疗护理"),
    "sanitation": ("环境清洁",),
    "culture_sports": ("文艺活动", "学业辅导"),
    "policy": ("政策宣讲", "法律咨询"),
    "daily_life": ("代买代办", "助老陪护", "水电维修", "家电维修", "医疗护理"),
    "dispute": ("矛盾调解", "法律咨询", "心理疏导"),
    "other": (),
}
SKILL_KEYWORDS: dict[str, tuple[str, ...]] = {
    "家电维修": ("家电", "电视", "冰箱", "洗衣机", "空调", "热水器", "微波炉", "电饭"),
    "水电维修": ("水管", "漏水", "跳闸", "停电", "电路", "插座", "灯", "水龙头", "马桶", "下水"),
    "助老陪护": ("老人", "独居", "陪护", "陪同", "看护", "陪伴", "失能", "行动不便"),
    "代买代办": ("代买", "买菜", "买药", "取药", "代办", "跑腿", "缴费"),
    "法律咨询": ("法律", "合同", "律师", "维权", "遗产", "起诉", "欠薪"),
    "心理疏导": ("心理", "情绪", "抑郁", "焦虑", "孤独", "疏导"),
    "医疗护理": ("血压", "血糖", "打针", "换药", "护理", "康复", "吃药"),
    "学业辅导": ("作业", "辅导", "功课", "补习", "学习"),
    "环境清洁": ("清洁", "打扫", "垃圾", "卫生", "清理", "杂物"),
    "文艺活动": ("文艺", "演出", "唱歌", "舞蹈", "广场舞", "书法", "联欢"),
    "政策宣讲": ("政策", "宣讲", "医保", "社保", "补贴", "宣传"),
    "矛盾调解": ("矛盾", "调解", "邻里", "吵架", "噪音", "争执"),
}

# --- time ------------------------------------------------------------------------------------

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # availability slots are local wall-clock times
UNIT_MINUTES = 30  # slots start and end on the hour or half hour
UNITS_PER_DAY = 24 * 60 // UNIT_MINUTES
WEEK_UNITS = 7 * UNITS_PER_DAY  # 336 half hours: a week fits in one int (or six 64-bit words)
FULL_MASK = (1 << WEEK_UNITS) - 1
FULL_OVERLAP_UNITS = 4  # two hours in common with the wanted time is a full availability match
DEFAULT_WINDOW = dt.timedelta(hours=2)  # a need with only a start (or end) time wants two hours
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

# --- distance --------------------------------------------------------------------------------

METERS_PER_DEGREE = 111_320.0

# --- reliability (a newcomer starts from the prior, as if they had PRIOR_WEIGHT average tasks) --

PRIOR_WEIGHT = 3.0
PRIOR_ACCEPTANCE = 0.7
PRIOR_COMPLETION = 0.9
PRIOR_RATING = 4.0
RELIABILITY_MIX = (0.3, 0.3, 0.4)  # acceptance, completion, rating

# --- fairness --------------------------------------------------------------------------------

LOAD_HALF_LIFE_HOURS = 14 * 24.0  # a task taken two weeks ago counts half


@dataclass(frozen=True)
class Weights:
    """How much each factor counts (a community may change them, defaults below)."""

    skill: float = 0.30
    distance: float = 0.20
    availability: float = 0.15
    load: float = 0.10
    reliability: float = 0.15
    fairness: float = 0.10
    party: float = 0.10

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | None) -> Weights:
        """Defaults overridden by the given factors (unknown names are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in (values or {}).items() if k in known})

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in FACTORS}


DEFAULT_WEIGHTS = Weights()
WEIGHT_MAX = 10.0


@dataclass(frozen=True)
class NeedFeatures:
    """What scoring needs to know of a need (built by ``need_features``)."""

    category: str
    skill_relevance: Mapping[str, float]  # skill -> relevance in (0, 1]
    skill_reasons: Mapping[str, str]  # skill -> why (keyword found, or the category)
    lat: float | None
    lng: float | None
    window_mask: int | None  # wanted half hours of the week (None: no preferred time)
    window_label: str
    party_first: bool  # the community puts party members first for this category

    @property
    def window_units(self) -> int:
        return 0 if self.window_mask is None else self.window_mask.bit_count()


@dataclass(frozen=True, slots=True)
class VolunteerFeatures:
    """What scoring needs to know of a volunteer (from profile columns, never an ORM object)."""

    person_id: int
    skills: tuple[str, ...] = ()
    lat: float | None = None
    lng: float | None = None
    radius_m: float = 2000.0
    slot_mask: int = 0  # available half hours of the week
    active_tasks: int = 0
    max_tasks: int = 2
    accepted: int = 0
    declined: int = 0
    completed: int = 0
    abandoned: int = 0
    rating_sum: int = 0
    rating_count: int = 0
    recent_load: float = 0.0
    recent_load_at: dt.datetime | None = None
    party_member: bool = False


class FactorScore(NamedTuple):
    """One factor of one candidate's score (a tuple: many are made per ranking)."""

    name: str
    value: float  # in [0, 1]
    weight: float
    contribution: float  # weight × value
    explanation: str


@dataclass(frozen=True)
class CandidateScore:
    """A volunteer's score for a need, factor by factor, and whether they may be invited."""

    person_id: int
    total: float
    eligible: bool
    factors: tuple[FactorScore, ...] = field(default_factory=tuple)

    def factor(self, name: str) -> FactorScore:
        return next(f for f in self.factors if f.name == name)


@dataclass(frozen=True)
class RankedCandidate:
    """One volunteer in a need's ranked list (the contract the tasks engine relies on)."""

    person_id: int
    score: float
    factors: dict[str, float]  # factor name -> weighted contribution
    explanation: list[str]  # Chinese, one line per factor


# --- need features -----------------------------------------------------------------------------


def skill_relevance(
    category: str, text: str, skills: Iterable[str] = DEFAULT_SKILLS
) -> tuple[dict[str, float], dict[str, str]]:
    """Which skills serve this need and how much: keywords in the text beat the category."""
    relevance: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for skill in CATEGORY_SKILLS.get(category, ()):
        relevance[skill] = CATEGORY_RELEVANCE
        reasons[skill] = "同类需求常用"
    for skill in dict.fromkeys([*SKILL_KEYWORDS, *skills]):
        keywords = (*SKILL_KEYWORDS.get(skill, ()), skill)
        found = next((word for word in keywords if word in text), None)
        if found is not None:
            relevance[skill] = KEYWORD_RELEVANCE
            reasons[skill] = f"需求提到“{found}”"
    return relevance, reasons


def _unit(moment: dt.datetime) -> int:
    local = moment.astimezone(LOCAL_TZ)
    return local.weekday() * UNITS_PER_DAY + (local.hour * 60 + local.minute) // UNIT_MINUTES


def window_mask(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    """The half hours of the week (Asia/Shanghai) a preferred time window touches."""
    if start is None and end is None:
        return None
    if start is None:
        assert end is not None
        start = end - DEFAULT_WINDOW
    if end is None:
        end = start + DEFAULT_WINDOW
    if end <= start:
        return None
    floor = start - dt.timedelta(
        minutes=start.astimezone(LOCAL_TZ).minute % UNIT_MINUTES,
        seconds=start.second,
        microseconds=start.microsecond,
    )
    count = math.ceil((end - floor) / dt.timedelta(minutes=UNIT_MINUTES))
    if count >= WEEK_UNITS:
        return FULL_MASK
    first = _unit(floor)
    mask = 0
    for offset in range(count):
        mask |= 1 << ((first + offset) % WEEK_UNITS)
    return mask


def _window_label(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None and end is None:
        return ""
    moment = (start or end).astimezone(LOCAL_TZ)  # type: ignore[union-attr]
    return f"{WEEKDAYS[moment.weekday()]} {moment:%H:%M}"


def need_features(
    *,
    category: str,
    title: str,
    description: str,
    lat: float | None,
    lng: float | None,
    preferred_start: dt.datetime | None,
    preferred_end: dt.datetime | None,
    skills: Iterable[str] = DEFAULT_SKILLS,
    party_categories: Iterable[str] = (),
) -> NeedFeatures:
    """The need as scoring sees it."""
    relevance, reasons = skill_relevance(category, f"{title} {description}", skills)
    has_place = lat is not None and lng is not None
    return NeedFeatures(
        category=category,
        skill_relevance=relevance,
        skill_reasons=reasons,
        lat=lat if has_place else None,
        lng=lng if has_place else None,
        window_mask=window_mask(preferred_start, preferred_end),
        window_label=_window_label(preferred_start, preferred_end),
        party_first=category in set(party_categories),
    )


# --- volunteer features -------------------------------------------------------------------------


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def slot_mask(slots: Iterable[Mapping[str, object]]) -> int:
    """Weekly slots ``{"weekday", "start", "end"}`` (validated, half-hour steps) as a week mask."""
    mask = 0
    for slot in slots:
        weekday = int(slot["weekday"])  # type: ignore[call-overload]
        start = _minutes(str(slot["start"])) // UNIT_MINUTES
        end = -(-_minutes(str(slot["end"])) // UNIT_MINUTES)  # "24:00" ends the day
        if end > start:
            mask |= ((1 << (end - start)) - 1) << (weekday * UNITS_PER_DAY + start)
    return mask


def local_distance_m(ref_lat: float, ref_lng: float, lat: float, lng: float) -> float:
    """Metres between two nearby points on a plane tangent at the first (error < 0.1% at 10 km).

    The index computes exactly these operations with numpy, so both agree to the last bit.
    """
    dx = (lng - ref_lng) * (math.cos(math.radians(ref_lat)) * METERS_PER_DEGREE)
    dy = (lat - ref_lat) * METERS_PER_DEGREE
    return math.sqrt(dx * dx + dy * dy)


def decayed_load(load: float, at: dt.datetime | None, now: dt.datetime) -> float:
    """Recent tasks, each counting half as much every ``LOAD_HALF_LIFE_HOURS``."""
    if at is None or load <= 0:
        return 0.0
    hours = max(0.0, (now - at).total_seconds() / 3600.0)
    return float(load * 0.5 ** (hours / LOAD_HALF_LIFE_HOURS))


def bumped_load(load: float, at: dt.datetime | None, now: dt.datetime, tasks: float = 1) -> float:
    """The recent load after taking ``tasks`` more now (store it with ``recent_load_at = now``)."""
    return decayed_load(load, at, now) + tasks


def _rate(good: float, bad: float, prior: float) -> float:
    return (good + PRIOR_WEIGHT * prior) / (good + bad + PRIOR_WEIGHT)


def reliability_parts(v: VolunteerFeatures) -> tuple[float, float, float]:
    """Acceptance rate, completion rate and rating (scaled to [0, 1]), each with the prior."""
    acceptance = _rate(v.accepted, v.declined, PRIOR_ACCEPTANCE)
    completion = _rate(v.completed, v.abandoned, PRIOR_COMPLETION)
    stars = (v.rating_sum + PRIOR_WEIGHT * PRIOR_RATING) / (v.rating_count + PRIOR_WEIGHT)
    return acceptance, completion, (stars - 1.0) / 4.0


def reliability_value(v: VolunteerFeatures) -> float:
    acceptance, completion, rating = reliability_parts(v)
    a, c, r = RELIABILITY_MIX
    return a * acceptance + c * completion + r * rating


# --- the factors ------------------------------------------------------------------------------


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def _skill(need: NeedFeatures, v: VolunteerFeatures) -> tuple[float, str]:
    if not need.skill_relevance:
        return NEUTRAL, "需求未指明所需技能，按中等计"
    best = max(
        ((need.skill_relevance[s], s) for s in v.skills if s in need.skill_relevance),
        default=None,
    )
    if best is None:
        wanted = "、".join(sorted(need.skill_relevance, key=lambda s: -need.skill_relevance[s])[:3])
        return 0.0, f"不具备相关技能（需要：{wanted}）"
    value, skill = best
    return value, f"具备“{skill}”（{need.skill_reasons.get(skill, '相关')}）"


def _distance(need: NeedFeatures, v: VolunteerFeatures) -> tuple[float, str, bool]:
    if need.lat is None or need.lng is None:
        return NEUTRAL, "需求未标注位置，按中等计", True
    if v.lat is None or v.lng is None:
        return 0.0, "未填写住址位置，无法判断距离", True
    meters = local_distance_m(need.lat, need.lng, v.lat, v.lng)
    within = meters <= v.radius_m
    value = _clip(1.0 - meters / v.radius_m) if v.radius_m > 0 else 0.0
    where = "在" if within else "超出"
    return value, f"约 {meters:.0f} 米，{where}服务半径 {v.radius_m:.0f} 米内", within


def _availability(need: NeedFeatures, v: VolunteerFeatures) -> tuple[float, str]:
    if need.window_mask is None:
        return NEUTRAL, "需求未指定时间，按中等计"
    if not v.slot_mask:
        return 0.0, "未填写可服务时间"
    overlap = (need.window_mask & v.slot_mask).bit_count()
    value = min(1.0, overlap / min(need.window_units, FULL_OVERLAP_UNITS))
    if not overlap:
        return 0.0, f"可服务时间与期望时间（{need.window_label}起）不重合"
    minutes = overlap * UNIT_MINUTES
    return value, f"可服务时间与期望时间（{need.window_label}起）重合 {minutes} 分钟"


def load_value(active_tasks: int, max_tasks: int) -> float:
    """1 with nothing on hand, 0 at the limit."""
    return _clip(1.0 - active_tasks / max(1, max_tasks))


def _load(v: VolunteerFeatures) -> tuple[float, str, bool]:
    value = load_value(v.active_tasks, v.max_tasks)
    text = f"手头 {v.active_tasks} 个任务，上限 {v.max_tasks} 个"
    if v.active_tasks >= v.max_tasks:
        text += "，已满"
    return value, text, v.active_tasks < v.max_tasks


def _reliability(v: VolunteerFeatures) -> tuple[float, str]:
    value = reliability_value(v)
    acceptance, completion, _ = reliability_parts(v)
    if v.accepted + v.declined == 0 and v.rating_count == 0:
        return value, "新志愿者，暂按默认估计"
    rating = "暂无评分"
    if v.rating_count:
        rating = f"平均 {v.rating_sum / v.rating_count:.1f} 星（{v.rating_count} 次）"
    return value, f"接单率 {acceptance:.0%}，完成率 {completion:.0%}，{rating}（含默认估计）"


def _fairness(v: VolunteerFeatures, now: dt.datetime) -> tuple[float, str]:
    load = decayed_load(v.recent_load, v.recent_load_at, now)
    value = 1.0 / (1.0 + load)
    if load < 0.05:
        return value, "近期未接任务，优先分配"
    return value, f"近期任务量约 {load:.1f} 个，适当分给他人"


def _party(need: NeedFeatures, v: VolunteerFeatures) -> tuple[float, str]:
    if not need.party_first:
        return 0.0, "本类需求未设党员优先"
    if v.party_member:
        return 1.0, "党员，本类需求党员优先"
    return 0.0, "非党员（本类需求党员优先）"


def score_candidate(
    need: NeedFeatures, volunteer: VolunteerFeatures, *, weights: Weights, now: dt.datetime
) -> CandidateScore:
    """The volunteer's score for the need, factor by factor; ``eligible`` is False when they are
    too far (outside their own service radius) or already at their task limit."""
    skill = _skill(need, volunteer)
    distance_value, distance_text, within = _distance(need, volunteer)
    availability = _availability(need, volunteer)
    load_value, load_text, free = _load(volunteer)
    values = {
        "skill": skill,
        "distance": (distance_value, distance_text),
        "availability": availability,
        "load": (load_value, load_text),
        "reliability": _reliability(volunteer),
        "fairness": _fairness(volunteer, now),
        "party": _party(need, volunteer),
    }
    factors = tuple(
        FactorScore(
            name=name,
            value=value,
            weight=getattr(weights, name),
            contribution=getattr(weights, name) * value,
            explanation=f"{FACTOR_LABELS[name]}：{text}",
        )
        for name, (value, text) in values.items()
    )
    total = 0.0
    for factor in factors:  # one fixed order, so the index's sum is the same float
        total += factor.contribution
    return CandidateScore(
        person_id=volunteer.person_id, total=total, eligible=within and free, factors=factors
    )


def ranked(score: CandidateScore) -> RankedCandidate:
    """The contract shape of a score."""
    return RankedCandidate(
        person_id=score.person_id,
        score=round(score.total, 6),
        factors={f.name: round(f.contribution, 6) for f in score.factors},
        explanation=[f.explanation for f in score.factors],
    )


def rank(
    need: NeedFeatures,
    volunteers: Iterable[VolunteerFeatures],
    *,
    weights: Weights,
    now: dt.datetime,
    limit: int = 20,
) -> list[CandidateScore]:
    """The best eligible volunteers, highest score first (ties: lower person id first).

    The straightforward reference: the index gives the same list for many volunteers, fast.
    """
    scores = [score_candidate(need, v, weights=weights, now=now) for v in volunteers]
    eligible = [s for s in scores if s.eligible]
    eligible.sort(key=lambda s: (-s.total, s.person_id))
    return eligible[:limit]
