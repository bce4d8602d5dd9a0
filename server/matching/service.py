"""The matching contract tasks rely on: ``rank_for_need``.

This is a placeholder with the exact contract of the real engine (built on another branch and
swapped in at merge): volunteers of the need's community, most skills named in the need first,
then by person id. Nothing else is built on it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from server.needs.models import Need
from server.volunteers.models import VolunteerProfile


@dataclass(frozen=True)
class RankedCandidate:
    person_id: int
    score: float
    factors: dict[str, float]
    explanation: list[str]


async def rank_for_need(
    need_id: int, *, limit: int = 20, exclude_person_ids: Collection[int] = ()
) -> list[RankedCandidate]:
    """The best ``limit`` volunteers for the need, best first (never its reporter)."""
    need = await Need.get_or_none(id=need_id)
    if need is None:
        return []
    text = f"{need.subcategory} {need.title} {need.description}"
    excluded = {*exclude_person_ids, need.reporter_id}
    rows = await VolunteerProfile.filter(community_id=need.community_id).values_list(
        "person_id", "skills"
    )
    ranked: list[tuple[int, int, list[str]]] = []
    for person_id, skills in rows:
        if person_id in excluded:
            continue
        named = [skill for skill in skills or [] if skill and skill in text]
        ranked.append((-len(named), int(person_id), named))
    ranked.sort()
    return [
        RankedCandidate(
            person_id=person_id,
            score=float(-overlap),
            factors={"skill": float(-overlap)},
            explanation=[f"技能匹配：{'、'.join(named)}" if named else "本社区志愿者"],
        )
        for overlap, person_id, named in ranked[:limit]
    ]
