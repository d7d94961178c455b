"""Alembic migrations for every service's tables (one history for the whole cloud)."""
