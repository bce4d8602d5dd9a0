from tortoise import migrations
from tortoise.migrations import operations as ops
from server.projects.models import ProjectStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_matching')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Project',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='projects', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(max_length=60)),
                ('description', fields.TextField(default='', unique=False)),
                ('plan', fields.TextField(default='', unique=False)),
                ('owner', fields.ForeignKeyField('models.Person', source_field='owner_id', db_constraint=True, to_field='id', related_name='owned_projects', on_delete=OnDelete.RESTRICT)),
                ('due_date', fields.DateField()),
                ('status', fields.CharEnumField(default=ProjectStatus.PLANNED, db_index=True, description='PLANNED: planned\nIN_PROGRESS: in_progress\nJOINT_MEETING: joint_meeting\nDONE: done\nCANCELLED: cancelled', enum_type=ProjectStatus, max_length=16)),
                ('percent', fields.SmallIntField(default=0)),
                ('last_note', fields.CharField(default='', max_length=500)),
                ('last_update_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.Person', source_field='created_by_id', db_constraint=True, to_field='id', related_name='created_projects', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'project', 'app': 'models', 'indexes': [Index(fields=['community_id', 'status'])], 'pk_attr': 'id', 'table_description': 'One practical matter the community promised its residents (为民实事项目).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProjectEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='project_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=16)),
                ('from_status', fields.CharEnumField(null=True, description='PLANNED: planned\nIN_PROGRESS: in_progress\nJOINT_MEETING: joint_meeting\nDONE: done\nCANCELLED: cancelled', enum_type=ProjectStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description='PLANNED: planned\nIN_PROGRESS: in_progress\nJOINT_MEETING: joint_meeting\nDONE: done\nCANCELLED: cancelled', enum_type=ProjectStatus, max_length=16)),
                ('note', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'project_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "Audit row of a project's status change, written with the change."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProjectUpdate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name='updates', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('percent', fields.SmallIntField()),
                ('note', fields.CharField(max_length=500)),
                ('author', fields.ForeignKeyField('models.Person', source_field='author_id', db_constraint=True, to_field='id', related_name='project_updates', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'project_update', 'app': 'models', 'indexes': [Index(fields=['project_id', 'month'])], 'pk_attr': 'id', 'table_description': 'One progress report (月度进度): how far, and what was done.'},
            bases=['Model'],
        ),
    ]
