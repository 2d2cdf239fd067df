"""The schema's history as Alembic revisions (versions/), run by bot.storage.db.migrate with no alembic.ini."""
