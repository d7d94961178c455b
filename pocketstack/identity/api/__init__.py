"""Keystone v3 HTTP handlers, one module per noun (thin: context, policy, validate, domain)."""
