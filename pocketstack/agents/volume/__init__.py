"""The storage agent (cinder-volume): drives one storage backend, reached only over the bus."""
