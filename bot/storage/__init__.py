"""Persistence: SQLite by default, PostgreSQL in production, through the same SQLAlchemy Core code."""
