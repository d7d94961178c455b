"""Cinder v3 microversions this service follows: ``OpenStack-API-Version: volume 3.x``.

Advertised: 3.0 to :data:`MAX`. What changes with the version here:

* 3.13 ``group_id`` in volume details; 3.21 ``provider_id``;
* 3.27 the attachments API (``api/attachments.py``); 3.44 its ``os-complete``; 3.54 its
  ``mode``;
* 3.41 ``user_id`` in snapshots; 3.42 ``os-extend`` of in-use volumes;
* 3.45 ``count`` in volume lists when ``with_count=true``;
* 3.48 ``shared_targets`` and ``service_uuid``; 3.61 ``cluster_name`` (admin) and
  ``volume_type_id``; 3.64 ``encryption_key_id``; 3.65 ``consumes_quota``;
* 3.66 a snapshot of an in-use volume needs no ``force``;
* 3.67 the project id in the URL is optional (both forms are always accepted here);
* 3.68 the ``os-reimage`` volume action (``domain/reimage.py``);
* 3.69 ``shared_targets`` may be ``null`` (a backend that forces locking; shown as ``true``
  before 3.69);
* 3.70 encrypted volumes may be transferred (with their snapshots).

Not claimed: 3.71 (``os-extend_volume_completion``, Nova's answer to a ``volume-extended``
event; extending an attached volume here does not involve compute).
"""

from __future__ import annotations

from pocketstack.common.api.microversion import MicroversionSpec

MIN = "3.0"
MAX = "3.70"
SPEC = MicroversionSpec("volume", MIN, MAX)
