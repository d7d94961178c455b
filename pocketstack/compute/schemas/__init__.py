"""JSON schemas of Nova request bodies (flavors, keypairs, admin APIs, quotas, groups)."""
