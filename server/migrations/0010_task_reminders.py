from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_projects')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TaskReminder',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='reminders', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=8)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'task_reminder', 'app': 'models', 'unique_together': (('task', 'kind'),), 'pk_attr': 'id', 'table_description': 'A reminder before a task\'s start that was written to the outbox (one per task and kind).'},
            bases=['Model'],
        ),
    ]
