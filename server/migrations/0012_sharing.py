from tortoise import migrations
from tortoise.migrations import operations as ops
from server.sharing.models import BookingStatus, ResourceKind, ResourceStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

KIND_DESCRIPTION = 'ITEM: item\nSPACE: space\nSKILL: skill'
RESOURCE_STATUS_DESCRIPTION = 'ACTIVE: active\nPAUSED: paused\nUNLISTED: unlisted'
BOOKING_STATUS_DESCRIPTION = 'REQUESTED: requested\nAPPROVED: approved\nREJECTED: rejected\nPICKED_UP: picked_up\nRETURNED: returned\nCANCELLED: cancelled'


class Migration(migrations.Migration):
    dependencies = [('models', '0011_activities')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SharedResource',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='shared_resources', on_delete=OnDelete.CASCADE)),
                ('owner', fields.ForeignKeyField('models.Person', source_field='owner_id', db_constraint=True, to_field='id', related_name='shared_resources', on_delete=OnDelete.RESTRICT)),
                ('unit_name', fields.CharField(default='', max_length=60)),
                ('kind', fields.CharEnumField(description=KIND_DESCRIPTION, enum_type=ResourceKind, max_length=8)),
                ('title', fields.CharField(max_length=40)),
                ('description', fields.TextField(default='', unique=False)),
                ('photos', fields.JSONField(default=list)),
                ('location', fields.CharField(default='', max_length=128)),
                ('needs_approval', fields.BooleanField(default=True)),
                ('max_loan_days', fields.SmallIntField(null=True)),
                ('max_booking_hours', fields.SmallIntField(null=True)),
                ('opening_hours', fields.CharField(default='', max_length=100)),
                ('deposit_note', fields.CharField(default='', max_length=100)),
                ('status', fields.CharEnumField(default=ResourceStatus.ACTIVE, db_index=True, description=RESOURCE_STATUS_DESCRIPTION, enum_type=ResourceStatus, max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'shared_resource', 'app': 'models', 'indexes': [Index(fields=['community_id', 'status', 'kind'])], 'pk_attr': 'id', 'table_description': "One thing on the community's resource list (共享清单 / 善治资源清单) that others may book."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Booking',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resource', fields.ForeignKeyField('models.SharedResource', source_field='resource_id', db_constraint=True, to_field='id', related_name='bookings', on_delete=OnDelete.CASCADE)),
                ('borrower', fields.ForeignKeyField('models.Person', source_field='borrower_id', db_constraint=True, to_field='id', related_name='bookings', on_delete=OnDelete.RESTRICT)),
                ('start_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('end_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(db_index=True, description=BOOKING_STATUS_DESCRIPTION, enum_type=BookingStatus, max_length=16)),
                ('note', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'booking', 'app': 'models', 'indexes': [Index(fields=['resource_id', 'status', 'start_at'])], 'pk_attr': 'id', 'table_description': 'One booking of a resource for ``[start_at, end_at)`` (借用 / 预约).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BookingEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booking', fields.ForeignKeyField('models.Booking', source_field='booking_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.Person', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='booking_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(max_length=16)),
                ('from_status', fields.CharEnumField(null=True, description=BOOKING_STATUS_DESCRIPTION, enum_type=BookingStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description=BOOKING_STATUS_DESCRIPTION, enum_type=BookingStatus, max_length=16)),
                ('note', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'booking_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "Audit row of a booking's status change, written with the change."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BookingReminder',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booking', fields.ForeignKeyField('models.Booking', source_field='booking_id', db_constraint=True, to_field='id', related_name='reminders', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=8)),
                ('end_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'booking_reminder', 'app': 'models', 'unique_together': (('booking', 'kind'),), 'pk_attr': 'id', 'table_description': 'A return reminder or overdue notice written to the outbox (one per booking and kind).'},
            bases=['Model'],
        ),
    ]
