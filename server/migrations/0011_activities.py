from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from decimal import Decimal
from json import dumps, loads
from server.activities.models import ActivityStatus, SignupStatus
from server.party.models import RegistrationStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_task_reminders')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Activity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='activities', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=64)),
                ('description', fields.TextField(default='', unique=False)),
                ('starts_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('signup_deadline', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('place', fields.CharField(max_length=128)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
                ('capacity', fields.IntField()),
                ('skills', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('hours', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('status', fields.CharEnumField(default=ActivityStatus.PUBLISHED, db_index=True, description='PUBLISHED: published\nCLOSED: closed\nCANCELLED: cancelled', enum_type=ActivityStatus, max_length=16)),
                ('checkin_code', fields.CharField(default='', max_length=8)),
                ('checkin_code_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reminder_sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancel_reason', fields.CharField(default='', max_length=200)),
                ('created_by', fields.ForeignKeyField('models.Person', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='activities_created', on_delete=OnDelete.SET_NULL)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'activity', 'app': 'models', 'indexes': [Index(fields=['community_id', 'starts_at'])], 'pk_attr': 'id', 'table_description': "One group activity a community's secretary publishes (e.g. 环境清洁日, 政策宣讲)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ActivityEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('activity', fields.ForeignKeyField('models.Activity', source_field='activity_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='activity_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=16)),
                ('from_status', fields.CharField(default='', max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('changes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('note', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'activity_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The audit row of one change of an activity: publish, edit, cancel, close.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ActivitySignup',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('activity', fields.ForeignKeyField('models.Activity', source_field='activity_id', db_constraint=True, to_field='id', related_name='signups', on_delete=OnDelete.CASCADE)),
                ('volunteer', fields.ForeignKeyField('models.Person', source_field='volunteer_id', db_constraint=True, to_field='id', related_name='activity_signups', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(description='CONFIRMED: confirmed\nWAITLISTED: waitlisted\nWITHDRAWN: withdrawn', enum_type=SignupStatus, max_length=16)),
                ('signed_up_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('promoted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('withdrawn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attendance_marked_by', fields.ForeignKeyField('models.Person', source_field='attendance_marked_by_id', null=True, db_constraint=True, to_field='id', related_name='attendance_marked', on_delete=OnDelete.SET_NULL)),
                ('wrong_codes', fields.SmallIntField(default=0)),
            ],
            options={'table': 'activity_signup', 'app': 'models', 'unique_together': (('activity', 'volunteer'),), 'indexes': [Index(fields=['volunteer_id', 'status']), Index(fields=['activity_id', 'status', 'signed_up_at'])], 'pk_attr': 'id', 'table_description': "One volunteer's sign-up for one activity: a place or the waitlist, and attendance."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartyRegistration',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='party_registrations', on_delete=OnDelete.RESTRICT)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='party_registrations', on_delete=OnDelete.RESTRICT)),
                ('work_unit', fields.CharField(max_length=64)),
                ('party_branch', fields.CharField(max_length=64)),
                ('registered_on', fields.DateField()),
                ('status', fields.CharEnumField(default=RegistrationStatus.ACTIVE, db_index=True, description='ACTIVE: active\nENDED: ended', enum_type=RegistrationStatus, max_length=16)),
                ('active_key', fields.CharField(null=True, unique=True, max_length=32)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_reason', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'party_registration', 'app': 'models', 'indexes': [Index(fields=['community_id', 'status'])], 'pk_attr': 'id', 'table_description': "An in-service party member's 报到 with the community where they live."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartyServiceSetting',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.OneToOneField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='party_setting', on_delete=OnDelete.CASCADE)),
                ('yearly_hours', fields.DecimalField(default=Decimal('12'), max_digits=14, decimal_places=2)),
                ('updated_by', fields.ForeignKeyField('models.Person', source_field='updated_by_id', null=True, db_constraint=True, to_field='id', related_name='party_settings_updated', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'party_service_setting', 'app': 'models', 'pk_attr': 'id', 'table_description': "A community's yearly service-hours expectation of registered members (default 12 h)."},
            bases=['Model'],
        ),
    ]
