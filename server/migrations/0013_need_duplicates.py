from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0012_sharing')]

    initial = False

    operations = [
        # The possible-duplicate search of every submitted need (same community and category,
        # within 50 m): without it the query read every open need of the community's last 7
        # days (16 ms at 20,000 of them on SQLite, holding the one connection); with it, a lat
        # band of one category (0.2 ms). Raw SQL, as in 0007, so the needs model stays untouched.
        ops.RunSQL(
            [
                'CREATE INDEX IF NOT EXISTS "idx_need_duplicates" ON "need" ("community_id", "category", "lat")',
            ],
            reverse_sql=[
                'DROP INDEX IF EXISTS "idx_need_duplicates"',
            ],
        ),
    ]
