"""Volunteer profiles (志愿红): skills, availability, service area and load limits."""

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
    """What a volunteer offers: skills, weekly availability, where and how much."""

    id = fields.IntField(primary_key=True)
    person: fields.OneToOneRelation = fields.OneToOneField(
        "models.Person", related_name="volunteer_profile", on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Community", related_name="volunteers", on_delete=fields.RESTRICT
    )
    skills: fields.Field[list[str]] = fields.JSONField(default=list)
    # [{"weekday": 0-6 (Monday=0), "start": "HH:MM", "end": "HH:MM"}]
    availability: fields.Field[list[dict]] = fields.JSONField(default=list)
    home_lat = fields.FloatField(null=True)
    home_lng = fields.FloatField(null=True)
    service_radius_m = fields.IntField(default=2000)
    max_concurrent_tasks = fields.IntField(default=2)
    phone_visible = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    person_id: int
    community_id: int

    class Meta:
        table = "volunteer_profile"
