"""Compute domain logic: one module per noun, each with its SQL (SQLAlchemy Core)."""
