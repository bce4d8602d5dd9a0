from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CommunityMatching',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.OneToOneField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='matching', on_delete=OnDelete.CASCADE)),
                ('skills', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('weights', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('party_categories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'community_matching', 'app': 'models', 'pk_attr': 'id', 'table_description': "A community's matching settings: its skill tag list, factor weights, party-first categories."},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='VolunteerProfile',
            options={'table': 'volunteer_profile', 'app': 'models', 'indexes': [Index(fields=['community_id', 'updated_at']), Index(fields=['community_id', 'id'])], 'pk_attr': 'id', 'table_description': 'What a volunteer offers (skills, weekly availability, where and how much) and how it went.'},
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='abandoned_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='accepted_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='active_tasks',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='completed_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='declined_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='rating_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='rating_sum',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='recent_load',
            field=fields.FloatField(default=0.0),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='recent_load_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='VolunteerProfile',
            index=Index(fields=['community_id', 'updated_at']),
        ),
        ops.AddIndex(
            model_name='VolunteerProfile',
            index=Index(fields=['community_id', 'id']),
        ),
    ]
