"""Placement's HTTP handlers: thin, one module per noun."""
