"""Alembic migrations of the SQL schema (SQLite by default, PostgreSQL supported)."""
