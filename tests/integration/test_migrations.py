"""Migrations must apply to a database that already holds content, not only to an empty one."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_articles_0002_applies_over_existing_articles(transactional_db):
    """Found by the dashboard bench: on PostgreSQL, 0002 failed with "cannot CREATE INDEX ...
    pending trigger events" when articles existed, because it ran as one transaction."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        _migrate([("articles", "0001_initial")])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO articles_category (name, slug, description) VALUES ('C', 'c', '')"
                " RETURNING id"
            )
            category_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO articles_article (title, slug, summary, body, status, created_at,"
                " updated_at, category_id) VALUES ('Old', 'old', '', 'Some *body*', 'published',"
                " now(), now(), %s)",
                [category_id],
            )
        _migrate([("articles", "0002_authors_images_search_slugs")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT body_html FROM articles_article WHERE slug = 'old'")
            assert "<em>body</em>" in cursor.fetchone()[0]
    finally:
        _migrate(latest)
