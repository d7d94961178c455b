"""Real upstream services run as benchmark peers, each in its own venv outside the repo."""
