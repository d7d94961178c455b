"""compute/conductor."""
