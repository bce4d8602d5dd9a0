"""API keys of Open311 clients: each key submits needs into the communities of one street."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Open311Key(Model):
    """A key a street hands to one Open311 client (only its SHA-256 is stored)."""

    id = fields.IntField(primary_key=True)
    street: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Street", related_name="open311_keys", on_delete=fields.RESTRICT
    )
    key_hash = fields.CharField(max_length=64, unique=True)  # sha256 hex of the key
    key_prefix = fields.CharField(max_length=8)  # shown by `open311-key list` to tell keys apart
    name = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    street_id: int

    class Meta:
        table = "open311_key"


class Open311Submission(Model):
    """Which key sent a need, and what the client sent that a need has no field for."""

    id = fields.IntField(primary_key=True)
    need: fields.OneToOneRelation = fields.OneToOneField(
        "models.Need", related_name="open311_submission", on_delete=fields.CASCADE
    )
    key: fields.ForeignKeyRelation[Open311Key] = fields.ForeignKeyField(
        "models.Open311Key", related_name="submissions", on_delete=fields.RESTRICT
    )
    email = fields.CharField(max_length=254, default="")
    device_id = fields.CharField(max_length=64, default="")
    account_id = fields.CharField(max_length=64, default="")
    # an http(s) link the client sent; never fetched, never published (schemas._media_url)
    media_url = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    need_id: int
    key_id: int

    class Meta:
        table = "open311_submission"
