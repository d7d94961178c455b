"""Glance v2 request handlers (thin: context → policy → validate → domain → serialise)."""
