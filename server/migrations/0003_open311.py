from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_needs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Open311Key',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('street', fields.ForeignKeyField('models.Street', source_field='street_id', db_constraint=True, to_field='id', related_name='open311_keys', on_delete=OnDelete.RESTRICT)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('key_prefix', fields.CharField(max_length=8)),
                ('name', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'open311_key', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A key a street hands to one Open311 client (only its SHA-256 is stored).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Open311Submission',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('need', fields.OneToOneField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='open311_submission', on_delete=OnDelete.CASCADE)),
                ('key', fields.ForeignKeyField('models.Open311Key', source_field='key_id', db_constraint=True, to_field='id', related_name='submissions', on_delete=OnDelete.RESTRICT)),
                ('email', fields.CharField(default='', max_length=254)),
                ('device_id', fields.CharField(default='', max_length=64)),
                ('account_id', fields.CharField(default='', max_length=64)),
                ('media_url', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'open311_submission', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Which key sent a need, and what the client sent that a need has no field for.'},
            bases=['Model'],
        ),
    ]
