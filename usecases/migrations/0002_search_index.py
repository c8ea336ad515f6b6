"""The full-text index of the library, on PostgreSQL only (SQLite searches with icontains).

Its expression is exactly what `selectors.SEARCH_VECTOR` compiles to, so the planner uses it.
"""

from django.db import migrations

INDEX_NAME = "usecases_search_gin_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON usecases_usecase USING gin "
        "(to_tsvector('english'::regconfig, COALESCE(search_document, '')))"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    dependencies = [("usecases", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
