"""Pocketstack: an OpenStack-compatible cloud operating system in one Python package."""

__version__ = "0.1.0"
