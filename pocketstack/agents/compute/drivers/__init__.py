"""agents/compute/drivers."""
