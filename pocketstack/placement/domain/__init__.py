"""Placement's domain layer: SQLAlchemy Core functions taking a connection."""
