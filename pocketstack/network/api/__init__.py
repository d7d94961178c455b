"""Neutron v2.0 handlers: context -> policy -> validate -> domain -> serialise."""
