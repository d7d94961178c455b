"""Password and secret hashing (bcrypt over a SHA-256 pre-hash, so long passwords are whole)."""

from __future__ import annotations

import base64
import hashlib

import bcrypt

MAX_PASSWORD_LENGTH = 4096


def _prehash(secret: str) -> bytes:
    return base64.b64encode(hashlib.sha256(secret.encode("utf-8")).digest())


def hash_password(secret: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(secret), bcrypt.gensalt(rounds=rounds)).decode()


def check_password(secret: str, hashed: str | None) -> bool:
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(_prehash(secret), hashed.encode())
    except ValueError:
        return False
