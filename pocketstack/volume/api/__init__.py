"""Cinder v3's thin HTTP handlers (``api/attachments.py`` is reserved for the attachments API)."""
