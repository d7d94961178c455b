"""agents/compute."""
