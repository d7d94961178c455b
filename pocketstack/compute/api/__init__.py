"""compute/api."""
