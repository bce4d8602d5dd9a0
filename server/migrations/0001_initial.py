import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from server.accounts.models import Role
from server.notify.models import OutboxStatus, Urgency
from server.org.models import GridLevel


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Person",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("openid", fields.CharField(null=True, unique=True, max_length=64)),
                ("unionid", fields.CharField(null=True, max_length=64)),
                ("name", fields.CharField(default="微信用户", max_length=32)),
                ("phone", fields.CharField(null=True, max_length=20)),
                ("is_party_member", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "last_login_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "person",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Anyone who uses the mini-app, identified by their WeChat openid once they have logged in.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Street",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=64)),
                ("code", fields.CharField(unique=True, max_length=32)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "street",
                "app": "models",
                "pk_attr": "id",
                "table_description": "街道/镇：sees all its communities.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Community",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "street",
                    fields.ForeignKeyField(
                        "models.Street",
                        source_field="street_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="communities",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("name", fields.CharField(max_length=64)),
                ("code", fields.CharField(unique=True, max_length=32)),
                ("join_code", fields.CharField(unique=True, max_length=16)),
                ("address", fields.CharField(default="", max_length=128)),
                ("lat", fields.FloatField(null=True)),
                ("lng", fields.FloatField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "community",
                "app": "models",
                "pk_attr": "id",
                "table_description": "社区/村：the unit a secretary runs, which residents join with its join code.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Grid",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="grids",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "parent",
                    fields.ForeignKeyField(
                        "models.Grid",
                        source_field="parent_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="children",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "level",
                    fields.IntEnumField(
                        description="COMMUNITY: 1\nBRANCH: 2\nBUILDING: 3",
                        enum_type=GridLevel,
                        generated=False,
                    ),
                ),
                ("name", fields.CharField(max_length=64)),
                ("path", fields.CharField(default="", db_index=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "grid",
                "app": "models",
                "unique_together": (("community", "parent", "name"),),
                "pk_attr": "id",
                "table_description": "网格 at one of three levels. Its path (/1/5/23/) makes inside-this-grid a prefix test.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Household",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="households",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "grid",
                    fields.ForeignKeyField(
                        "models.Grid",
                        source_field="grid_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="households",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("label", fields.CharField(max_length=64)),
                ("address", fields.CharField(default="", max_length=128)),
                ("lat", fields.FloatField(null=True)),
                ("lng", fields.FloatField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "household",
                "app": "models",
                "unique_together": (("grid", "label"),),
                "pk_attr": "id",
                "table_description": "户: a dwelling in a building grid, which residents bind to.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="InviteCode",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("code", fields.CharField(unique=True, max_length=16)),
                (
                    "role",
                    fields.CharEnumField(
                        description="RESIDENT: resident\nVOLUNTEER: volunteer\nGRID_MEMBER: grid_member\nSECRETARY: secretary\nSTREET_ADMIN: street_admin",
                        enum_type=Role,
                        max_length=16,
                    ),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invites",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "grid",
                    fields.ForeignKeyField(
                        "models.Grid",
                        source_field="grid_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="invites",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="created_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invites_created",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("max_uses", fields.IntField(default=1)),
                ("uses", fields.IntField(default=0)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("revoked", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "invite_code",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A code a secretary hands out so a person becomes a grid member or volunteer of a place.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OutboxMessage",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "recipient",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="recipient_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="outbox",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="outbox",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=48)),
                (
                    "payload",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "urgency",
                    fields.CharEnumField(
                        default=Urgency.NORMAL,
                        description="NORMAL: normal\nURGENT: urgent\nEMERGENCY: emergency",
                        enum_type=Urgency,
                        max_length=16,
                    ),
                ),
                ("dedupe_key", fields.CharField(null=True, unique=True, max_length=128)),
                (
                    "status",
                    fields.CharEnumField(
                        default=OutboxStatus.PENDING,
                        db_index=True,
                        description="PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed\nDEAD: dead",
                        enum_type=OutboxStatus,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                (
                    "next_attempt_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "lease_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("last_error", fields.CharField(default="", max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "outbox_message",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A notification waiting for (or done with) delivery by the bot.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PartyBranch",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="branches",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "grid",
                    fields.ForeignKeyField(
                        "models.Grid",
                        source_field="grid_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="branches",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("name", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "party_branch",
                "app": "models",
                "unique_together": (("community", "name"),),
                "pk_attr": "id",
                "table_description": "党支部, sitting on a grid (支部进网).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RoleGrant",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "role",
                    fields.CharEnumField(
                        description="RESIDENT: resident\nVOLUNTEER: volunteer\nGRID_MEMBER: grid_member\nSECRETARY: secretary\nSTREET_ADMIN: street_admin",
                        enum_type=Role,
                        max_length=16,
                    ),
                ),
                (
                    "street",
                    fields.ForeignKeyField(
                        "models.Street",
                        source_field="street_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "grid",
                    fields.ForeignKeyField(
                        "models.Grid",
                        source_field="grid_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "household",
                    fields.ForeignKeyField(
                        "models.Household",
                        source_field="household_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="grants",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("grid_path", fields.CharField(default="", max_length=255)),
                ("scope_key", fields.CharField(max_length=64)),
                (
                    "granted_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="granted_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="granted",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "role_grant",
                "app": "models",
                "unique_together": (("person", "scope_key"),),
                "pk_attr": "id",
                "table_description": "One role of one person in one place (its ids and grid path copied for permission checks).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="VolunteerProfile",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "person",
                    fields.OneToOneField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="volunteer_profile",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="volunteers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "skills",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "availability",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("home_lat", fields.FloatField(null=True)),
                ("home_lng", fields.FloatField(null=True)),
                ("service_radius_m", fields.IntField(default=2000)),
                ("max_concurrent_tasks", fields.IntField(default=2)),
                ("phone_visible", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "volunteer_profile",
                "app": "models",
                "pk_attr": "id",
                "table_description": "What a volunteer offers: skills, weekly availability, where and how much.",
            },
            bases=["Model"],
        ),
    ]
