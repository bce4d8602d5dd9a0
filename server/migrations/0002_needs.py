from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from server.needs.models import Category, NeedStatus, NeedUrgency
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Need',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='needs', on_delete=OnDelete.RESTRICT)),
                ('grid', fields.ForeignKeyField('models.Grid', source_field='grid_id', db_constraint=True, to_field='id', related_name='needs', on_delete=OnDelete.RESTRICT)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', null=True, db_constraint=True, to_field='id', related_name='needs', on_delete=OnDelete.SET_NULL)),
                ('reporter', fields.ForeignKeyField('models.Person', source_field='reporter_id', db_constraint=True, to_field='id', related_name='needs_reported', on_delete=OnDelete.RESTRICT)),
                ('entered_by', fields.ForeignKeyField('models.Person', source_field='entered_by_id', null=True, db_constraint=True, to_field='id', related_name='needs_entered', on_delete=OnDelete.SET_NULL)),
                ('category', fields.CharEnumField(description='SPACE: space\nSAFETY: safety\nSANITATION: sanitation\nCULTURE_SPORTS: culture_sports\nPOLICY: policy\nDAILY_LIFE: daily_life\nDISPUTE: dispute\nOTHER: other', enum_type=Category, max_length=16)),
                ('subcategory', fields.CharField(default='', max_length=32)),
                ('title', fields.CharField(max_length=40)),
                ('description', fields.TextField(unique=False)),
                ('urgency', fields.CharEnumField(default=NeedUrgency.NORMAL, description='NORMAL: normal\nURGENT: urgent\nEMERGENCY: emergency', enum_type=NeedUrgency, max_length=16)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
                ('address', fields.CharField(default='', max_length=128)),
                ('preferred_start', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('preferred_end', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('photos', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('allow_call', fields.BooleanField(default=False)),
                ('grid_path', fields.CharField(db_index=True, max_length=255)),
                ('status', fields.CharEnumField(default=NeedStatus.SUBMITTED, db_index=True, description='SUBMITTED: submitted\nACCEPTED: accepted\nREJECTED: rejected\nMERGED: merged\nMATCHING: matching\nASSIGNED: assigned\nIN_PROGRESS: in_progress\nDONE: done\nCONFIRMED: confirmed\nCLOSED: closed\nCANCELLED: cancelled\nREOPENED: reopened', enum_type=NeedStatus, max_length=16)),
                ('status_changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sla_due_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('merged_into', fields.ForeignKeyField('models.Need', source_field='merged_into_id', null=True, db_constraint=True, to_field='id', related_name='merged_needs', on_delete=OnDelete.SET_NULL)),
                ('reject_reason', fields.CharField(default='', max_length=200)),
                ('rating', fields.SmallIntField(null=True)),
                ('rating_comment', fields.CharField(default='', max_length=500)),
                ('escalation_level', fields.SmallIntField(default=0)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'need', 'app': 'models', 'indexes': [Index(fields=['community_id', 'status', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One need of one household (or of a place), from submission to closing.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NeedEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='need_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=24)),
                ('from_status', fields.CharField(default='', max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('note', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'need_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The audit row of one change of a need: who, when, from, to, why.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubmissionKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='submission_keys', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=64)),
                ('body_hash', fields.CharField(max_length=64)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='submission_keys', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'submission_key', 'app': 'models', 'unique_together': (('person', 'key'),), 'pk_attr': 'id', 'table_description': 'An ``Idempotency-Key`` a person used: retries return the need it created.'},
            bases=['Model'],
        ),
    ]
