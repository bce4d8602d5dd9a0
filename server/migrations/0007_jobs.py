from tortoise import migrations
from tortoise.migrations import operations as ops
from server.scheduling.models import RunStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_notify')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JobRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.CharField(max_length=48)),
                ('slot', fields.CharField(max_length=64)),
                ('scope', fields.CharField(default='', max_length=32)),
                ('community_id', fields.IntField(null=True)),
                ('status', fields.CharEnumField(default=RunStatus.PENDING, description='PENDING: pending\nRUNNING: running\nDONE: done\nFAILED: failed', enum_type=RunStatus, max_length=16)),
                ('worker', fields.CharField(default='', max_length=128)),
                ('attempts', fields.IntField(default=0)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('result', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'job_run', 'app': 'models', 'unique_together': (('job', 'slot', 'scope'),), 'indexes': [Index(fields=['job', 'status', 'slot'])], 'pk_attr': 'id', 'table_description': 'A job slot (job name + scheduled fire time) in a scope (a community or the whole system).'},
            bases=['Model'],
        ),
        # Indexes of the weekly digest's aggregate queries (range scans of one community's week,
        # covering the grid and the figures summed so the table itself is not read). Raw SQL so
        # the needs model stays untouched; both SQLite and PostgreSQL accept these statements.
        ops.RunSQL(
            [
                'CREATE INDEX IF NOT EXISTS "idx_need_digest_new" ON "need" ("community_id", "created_at", "grid_id")',
                'CREATE INDEX IF NOT EXISTS "idx_need_digest_done" ON "need" ("community_id", "done_at", "grid_id", "created_at")',
                'CREATE INDEX IF NOT EXISTS "idx_need_digest_rated" ON "need" ("community_id", "confirmed_at", "grid_id", "rating")',
                'CREATE INDEX IF NOT EXISTS "idx_need_digest_late" ON "need" ("community_id", "sla_due_at", "status", "grid_id")',
                'CREATE INDEX IF NOT EXISTS "idx_need_event_digest" ON "need_event" ("to_status", "created_at", "need_id")',
            ],
            reverse_sql=[
                'DROP INDEX IF EXISTS "idx_need_digest_new"',
                'DROP INDEX IF EXISTS "idx_need_digest_done"',
                'DROP INDEX IF EXISTS "idx_need_digest_rated"',
                'DROP INDEX IF EXISTS "idx_need_digest_late"',
                'DROP INDEX IF EXISTS "idx_need_event_digest"',
            ],
        ),
    ]
