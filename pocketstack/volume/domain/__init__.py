"""Cinder's SQL and rules: volumes, snapshots, types, quotas, services, task bookkeeping."""
