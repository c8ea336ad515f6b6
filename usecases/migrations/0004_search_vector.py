"""The search document's tsvector as a stored generated column, GIN-indexed on PostgreSQL in
place of migration 0002's expression index: matches are rechecked and ranked from the stored
vector instead of parsing every matching document again.
"""

import django.contrib.postgres.search
from django.db import migrations, models

import usecases.models

OLD_INDEX = "usecases_search_gin_idx"
INDEX = "usecases_search_vector_idx"


def swap_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON usecases_usecase USING gin (search_vector)"
    )


def restore_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON usecases_usecase USING gin "
        "(to_tsvector('english'::regconfig, COALESCE(search_document, '')))"
    )


class Migration(migrations.Migration):
    dependencies = [("usecases", "0003_library_newest_index")]

    operations = [
        migrations.AddField(
            model_name="usecase",
            name="search_vector",
            field=models.GeneratedField(
                db_persist=True,
                expression=usecases.models.SearchDocumentVector(),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.RunPython(swap_indexes, restore_indexes, elidable=False),
    ]
