"""Volunteer profiles (志愿红): skills, availability, service area, load limits and track record."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# The configurable skill tag list starts from these (a community may add its own).
DEFAULT_SKILLS = (
    "家电维修",
    "水电维修",
    "助老陪护",
    "代买代办",
    "法律咨询",
    "心理疏导",
    "医疗护理",
    "学业辅导",
    "环境清洁",
    "文艺活动",
    "政策宣讲",
    "矛盾调解",
)


class VolunteerProfile(Model):
    """What a volunteer offers (skills, weekly availability, where and how much) and how it went.

    The party member flag is ``Person.is_party_member`` (one flag per person, not per profile).

    Track-record counters read by the matching engine. Change them only through
    ``server.volunteers.service`` (``record_*`` functions), which also stamps ``updated_at`` so
    the in-memory matching index picks the change up:
    - ``active_tasks``: tasks assigned to the volunteer and not yet finished (current load).
    - ``accepted_count`` / ``declined_count``: invitations accepted / declined or timed out.
    - ``completed_count``: accepted tasks carried out to the end (checked out).
    - ``abandoned_count``: accepted tasks given back or taken away before the end.
    - ``rating_sum`` / ``rating_count``: residents' 1-5 star ratings of finished tasks.
    - ``recent_load`` at ``recent_load_at``: tasks taken lately, decaying by half every 14 days
      (see ``server.matching.scoring.decayed_load``): the fairness factor spreads work with it.
    """

    id = fields.IntField(primary_key=True)
    person: fields.OneToOneRelation = fields.OneToOneField(
        "models.Person", related_name="volunteer_profile", on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="volunteers", on_delete=fields.RESTRICT
    )
    skills: fields.Field[list[str]] = fields.JSONField(default=list)
    # [{"weekday": 0-6 (Monday=0), "start": "HH:MM", "end": "HH:MM"}], Asia/Shanghai local time
    availability: fields.Field[list[dict]] = fields.JSONField(default=list)
    home_lat = fields.FloatField(null=True)
    home_lng = fields.FloatField(null=True)
    service_radius_m = fields.IntField(default=2000)
    max_concurrent_tasks = fields.IntField(default=2)
    phone_visible = fields.BooleanField(default=False)
    active_tasks = fields.IntField(default=0)
    accepted_count = fields.IntField(default=0)
    declined_count = fields.IntField(default=0)
    completed_count = fields.IntField(default=0)
    abandoned_count = fields.IntField(default=0)
    rating_sum = fields.IntField(default=0)
    rating_count = fields.IntField(default=0)
    recent_load = fields.FloatField(default=0.0)
    recent_load_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    person_id: int
    community_id: int

    class Meta:
        table = "volunteer_profile"
        # polling for changes, and reading a community in pages by id
        indexes = (("community_id", "updated_at"), ("community_id", "id"))


class CommunityMatching(Model):
    """A community's matching settings: its skill tag list, factor weights, party-first categories.

    Without a row the defaults in code apply (``DEFAULT_SKILLS``, ``scoring.DEFAULT_WEIGHTS``).
    """

    id = fields.IntField(primary_key=True)
    community: fields.OneToOneRelation = fields.OneToOneField(
        "models.Community", related_name="matching", on_delete=fields.CASCADE
    )
    skills: fields.Field[list[str]] = fields.JSONField(default=list)
    weights: fields.Field[dict[str, float]] = fields.JSONField(default=dict)
    party_categories: fields.Field[list[str]] = fields.JSONField(default=list)
    updated_at = fields.DatetimeField(auto_now=True)

    community_id: int

    class Meta:
        table = "community_matching"
