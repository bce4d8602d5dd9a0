from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from server.passbook.models import AccountKind, ClaimStatus, SourceKind, TransferKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_tasks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Account',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='ledger_accounts', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='PERSON: person\nPOOL: pool\nISSUANCE: issuance\nPENDING: pending', enum_type=AccountKind, max_length=16)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', null=True, db_constraint=True, to_field='id', related_name='ledger_accounts', on_delete=OnDelete.RESTRICT)),
                ('key', fields.CharField(max_length=32)),
                ('balance', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_account', 'app': 'models', 'unique_together': (('community', 'key'),), 'pk_attr': 'id', 'table_description': "One account of the ledger: a person's hours, or a community's pool, issuance or pending."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HonourBoard',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='honour_boards', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('entries', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'honour_board', 'app': 'models', 'unique_together': (('community', 'month'),), 'pk_attr': 'id', 'table_description': '光荣榜 of one community for one month, as published on the 1st.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HoursClaim',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='hours_claims', on_delete=OnDelete.RESTRICT)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='hours_claims', on_delete=OnDelete.RESTRICT)),
                ('hours', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('source_kind', fields.CharEnumField(description='TASK: task\nACTIVITY: activity', enum_type=SourceKind, max_length=16)),
                ('source_id', fields.IntField()),
                ('rating', fields.SmallIntField(null=True)),
                ('status', fields.CharEnumField(default=ClaimStatus.PENDING, db_index=True, description='PENDING: pending\nAPPROVED: approved\nREJECTED: rejected', enum_type=ClaimStatus, max_length=16)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('auto_approved', fields.BooleanField(default=False)),
                ('decided_by', fields.ForeignKeyField('models.Person', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='hours_decided', on_delete=OnDelete.SET_NULL)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'hours_claim', 'app': 'models', 'unique_together': (('source_kind', 'source_id', 'person'),), 'pk_attr': 'id', 'table_description': 'Hours a volunteer earned from one task or activity: pending until approved or rejected.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PassbookPolicy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.OneToOneField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='passbook_policy', on_delete=OnDelete.CASCADE)),
                ('auto_approve_rated', fields.BooleanField(default=False)),
                ('allow_negative_balance', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'passbook_policy', 'app': 'models', 'pk_attr': 'id', 'table_description': "A community's passbook rules (defaults apply while it has no row)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsAward',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='points_awards', on_delete=OnDelete.RESTRICT)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='points_awards', on_delete=OnDelete.RESTRICT)),
                ('claim', fields.OneToOneField('models.HoursClaim', source_field='claim_id', db_constraint=True, to_field='id', related_name='points_award', on_delete=OnDelete.RESTRICT)),
                ('source_kind', fields.CharField(max_length=16)),
                ('hours', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('rating', fields.SmallIntField(null=True)),
                ('points', fields.IntField()),
                ('grid', fields.ForeignKeyField('models.Grid', source_field='grid_id', null=True, db_constraint=True, to_field='id', related_name='points_awards', on_delete=OnDelete.SET_NULL)),
                ('grid_path', fields.CharField(default='', max_length=255)),
                ('awarded_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('board_synced', fields.BooleanField(default=False)),
            ],
            options={'table': 'points_award', 'app': 'models', 'indexes': [Index(fields=['community_id', 'board_synced'])], 'pk_attr': 'id', 'table_description': 'Points for one approved hours claim, with the grid the volunteer counted for then.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.OneToOneField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='points_rule', on_delete=OnDelete.CASCADE)),
                ('points_per_hour', fields.IntField(default=10)),
                ('bonus_five_star', fields.IntField(default=5)),
                ('bonus_four_star', fields.IntField(default=0)),
                ('honour_min_tasks', fields.IntField(default=2)),
                ('honour_size', fields.IntField(default=10)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'points_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': "A community's points rules (the defaults in ``rules.DEFAULT_RULE`` apply without a row)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Transfer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='ledger_transfers', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='CREDIT: credit\nAPPROVE: approve\nREJECT: reject\nGIFT: gift', enum_type=TransferKind, max_length=16)),
                ('memo', fields.CharField(default='', max_length=200)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='ledger_transfers', on_delete=OnDelete.SET_NULL)),
                ('claim', fields.ForeignKeyField('models.HoursClaim', source_field='claim_id', null=True, db_constraint=True, to_field='id', related_name='transfers', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_transfer', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One movement of hours: its entries sum to zero.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('transfer', fields.ForeignKeyField('models.Transfer', source_field='transfer_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One side of a transfer: hours into (positive) or out of (negative) one account.'},
            bases=['Model'],
        ),
    ]
