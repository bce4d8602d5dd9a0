from tortoise import migrations
from tortoise.migrations import operations as ops
from server.notify.models import DeliveryStatus, Urgency
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_passbook')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CommunityRobot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.OneToOneField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='robot', on_delete=OnDelete.CASCADE)),
                ('webhook_url', fields.CharField(max_length=255)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'community_robot', 'app': 'models', 'pk_attr': 'id', 'table_description': "The WeCom group robot (群机器人) webhook of a community's work group."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('models.OutboxMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=16)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('target', fields.CharField(max_length=24)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENT: sent\nSKIPPED: skipped\nFAILED: failed', enum_type=DeliveryStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_delivery', 'app': 'models', 'unique_together': (('message', 'channel', 'target'),), 'pk_attr': 'id', 'table_description': 'One outbox message on one external channel to one target (a person or a community robot).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboxItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.CASCADE)),
                ('message', fields.ForeignKeyField('models.OutboxMessage', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharField(max_length=48)),
                ('title', fields.CharField(max_length=64)),
                ('body', fields.TextField(unique=False)),
                ('link', fields.CharField(default='', max_length=255)),
                ('urgency', fields.CharEnumField(default=Urgency.NORMAL, description='NORMAL: normal\nURGENT: urgent\nEMERGENCY: emergency', enum_type=Urgency, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('read_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbox_item', 'app': 'models', 'unique_together': (('person', 'message'),), 'indexes': [Index(fields=['person_id', 'id'])], 'pk_attr': 'id', 'table_description': '站内信: every notification a person gets, always written, the source of truth.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscribeConsent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='subscribe_consents', on_delete=OnDelete.CASCADE)),
                ('template_id', fields.CharField(max_length=64)),
                ('remaining', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'subscribe_consent', 'app': 'models', 'unique_together': (('person', 'template_id'),), 'pk_attr': 'id', 'table_description': 'How many one-time subscribe-message consents a person has left for one template.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WecomUser',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.OneToOneField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='wecom_user', on_delete=OnDelete.CASCADE)),
                ('userid', fields.CharField(unique=True, max_length=64)),
            ],
            options={'table': 'wecom_user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The WeCom (企业微信) member id of a secretary or grid member, for app messages.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='lease_owner',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='routed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
