"""The secret the metadata proxies and the metadata API share (Neutron's
``metadata_proxy_shared_secret``, Nova's ``metadata_proxy_shared_secret``): the configured one,
or one made once at random and kept in ``STATE/metadata_secret`` (mode 0600), and the
signature of an instance id with it (hex HMAC-SHA256, the ``X-Instance-ID-Signature`` header).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

FILE_NAME = "metadata_secret"


def load_or_create(configured: str, state_dir: Path) -> str:
    """``configured`` when set, else the secret in ``state_dir/metadata_secret`` (made now,
    atomically, if no process made it before)."""
    if configured:
        return configured
    path = state_dir / FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def _read(path: Path) -> str:
    for _ in range(50):  # another process may be writing it right now
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty")


def sign(secret: str, instance_id: str) -> str:
    """``X-Instance-ID-Signature`` for ``instance_id``."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, instance_id: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, instance_id), signature)
