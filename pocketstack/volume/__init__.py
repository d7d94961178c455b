"""Block storage: Cinder v3 at ``/volume`` (volumes, snapshots, types, quotas, services),
its conductor and the in-process storage agent; :mod:`.interface` is for compute."""
