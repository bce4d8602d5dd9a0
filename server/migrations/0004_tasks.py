from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from server.tasks.models import InvitationStatus, TaskStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_open311')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TaskInvitation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('volunteer', fields.ForeignKeyField('models.Person', source_field='volunteer_id', db_constraint=True, to_field='id', related_name='task_invitations', on_delete=OnDelete.CASCADE)),
                ('wave', fields.SmallIntField()),
                ('rank', fields.SmallIntField(default=0)),
                ('score', fields.FloatField(default=0.0)),
                ('explanation', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=InvitationStatus.PENDING, db_index=True, description='PENDING: pending\nACCEPTED: accepted\nDECLINED: declined\nEXPIRED: expired\nWITHDRAWN: withdrawn', enum_type=InvitationStatus, max_length=16)),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('responded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decline_reason', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'task_invitation', 'app': 'models', 'unique_together': (('need', 'volunteer'),), 'indexes': [Index(fields=['volunteer_id', 'status'])], 'pk_attr': 'id', 'table_description': 'One volunteer invited to one need in one wave (邀请接单).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('volunteer', fields.ForeignKeyField('models.Person', source_field='volunteer_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.RESTRICT)),
                ('invitation', fields.ForeignKeyField('models.TaskInvitation', source_field='invitation_id', null=True, db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.SET_NULL)),
                ('assigned_by', fields.ForeignKeyField('models.Person', source_field='assigned_by_id', null=True, db_constraint=True, to_field='id', related_name='tasks_assigned', on_delete=OnDelete.SET_NULL)),
                ('open_need_id', fields.IntField(null=True, unique=True)),
                ('status', fields.CharEnumField(default=TaskStatus.ACCEPTED, db_index=True, description='ACCEPTED: accepted\nIN_PROGRESS: in_progress\nDONE: done\nCANCELLED: cancelled', enum_type=TaskStatus, max_length=16)),
                ('accepted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('checkin_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checkin_lat', fields.FloatField(null=True)),
                ('checkin_lng', fields.FloatField(null=True)),
                ('checkout_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checkout_lat', fields.FloatField(null=True)),
                ('checkout_lng', fields.FloatField(null=True)),
                ('note', fields.CharField(default='', max_length=500)),
                ('photos', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('hours', fields.FloatField(null=True)),
                ('hours_edited_by', fields.ForeignKeyField('models.Person', source_field='hours_edited_by_id', null=True, db_constraint=True, to_field='id', related_name='task_hours_edited', on_delete=OnDelete.SET_NULL)),
                ('hours_edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'task', 'app': 'models', 'indexes': [Index(fields=['volunteer_id', 'status'])], 'pk_attr': 'id', 'table_description': 'The work of one volunteer on one need, from acceptance to check-out (任务).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='task_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=24)),
                ('from_status', fields.CharField(default='', max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('hours_before', fields.FloatField(null=True)),
                ('hours_after', fields.FloatField(null=True)),
                ('note', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'task_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The audit row of one change of a task: accept, assign, check-in, check-out, hours edit.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskPolicy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.OneToOneField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='task_policy', on_delete=OnDelete.CASCADE)),
                ('wave_size', fields.SmallIntField(null=True)),
                ('wave_timeout_minutes', fields.IntField(null=True)),
                ('max_waves', fields.SmallIntField(null=True)),
                ('checkin_max_distance_m', fields.IntField(null=True)),
                ('hours_cap', fields.FloatField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'task_policy', 'app': 'models', 'pk_attr': 'id', 'table_description': "A community's own wave size, timeout, check-in distance and hours cap (empty = setting)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Need',
            name='assignee',
            field=fields.ForeignKeyField('models.Person', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='needs_assigned', on_delete=OnDelete.SET_NULL),
        ),
    ]
