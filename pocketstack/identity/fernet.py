"""Fernet key repository and token payloads.

The repository is a directory of key files named by integer, as Keystone keeps it: ``0`` is the
staged key (next to become primary), the highest number is the primary (encrypts), all keys
decrypt. Any node holding the same directory validates tokens without the database.

A token is ``Fernet(primary).encrypt(msgpack((version, user, methods, scope, issued, expires,
audit, app_cred)))`` with base64 padding stripped; ids that are UUID hex are packed as 16 bytes.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pocketstack.common import exceptions

PAYLOAD_VERSION = 1
METHODS = ("password", "token", "application_credential", "totp", "external", "oauth1", "mapped")


class KeyRepository:
    """Owns the key files in ``path``."""

    def __init__(self, path: Path, max_active_keys: int = 3) -> None:
        self.path = path
        self.max_active_keys = max(2, max_active_keys)
        self._fernet: MultiFernet | None = None
        self._loaded_at: float = 0.0

    def _key_files(self) -> dict[int, Path]:
        out: dict[int, Path] = {}
        if not self.path.is_dir():
            return out
        for entry in self.path.iterdir():
            if entry.name.isdigit():
                out[int(entry.name)] = entry
        return out

    def _write_key(self, number: int, key: bytes) -> None:
        tmp = self.path / f".{number}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        os.replace(tmp, self.path / str(number))

    def setup(self) -> bool:
        """Create the repository with a staged and a primary key; False if it exists."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._key_files():
            return False
        self._write_key(0, Fernet.generate_key())
        self._write_key(1, Fernet.generate_key())
        self._fernet = None
        return True

    def rotate(self) -> int:
        """Promote the staged key, stage a new one, drop the oldest beyond the limit."""
        files = self._key_files()
        if not files:
            self.setup()
            files = self._key_files()
        new_primary = max(files) + 1
        os.replace(files[0], self.path / str(new_primary))
        self._write_key(0, Fernet.generate_key())
        files = self._key_files()
        secondaries = sorted(n for n in files if n not in (0, new_primary))
        while len(secondaries) + 2 > self.max_active_keys:
            files[secondaries.pop(0)].unlink()
        self._fernet = None
        return new_primary

    def keys(self) -> list[bytes]:
        files = self._key_files()
        if not files:
            raise exceptions.ServiceUnavailable("Fernet key repository is empty.")
        order = sorted(files, reverse=True)  # primary (highest) first, staged (0) last
        return [files[n].read_bytes().strip() for n in order]

    def fernet(self) -> MultiFernet:
        # Reload when the directory changes (rotation by another process on this node).
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if self._fernet is None or mtime != self._loaded_at:
            self._fernet = MultiFernet([Fernet(k) for k in self.keys()])
            self._loaded_at = mtime
        return self._fernet


def _pack_id(value: str | None) -> Any:
    if value is None:
        return None
    if len(value) == 32:
        try:
            return uuid.UUID(hex=value).bytes
        except ValueError:
            pass
    return value


def _unpack_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return uuid.UUID(bytes=value).hex
    return str(value)


def methods_to_int(methods: list[str]) -> int:
    out = 0
    for name in methods:
        out |= 1 << METHODS.index(name)
    return out


def int_to_methods(value: int) -> list[str]:
    return [name for i, name in enumerate(METHODS) if value & (1 << i)]


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def _pack_audit(audit: str) -> bytes:
    return base64.urlsafe_b64decode(audit + "==")


def _unpack_audit(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class TokenPayload:
    """What a token carries; everything else is looked up at validation."""

    user_id: str
    methods: list[str]
    issued_at: float  # unix seconds, sub-second precision (revocation compares it)
    expires_at: int  # unix seconds
    audit_ids: list[str]
    project_id: str | None = None
    domain_id: str | None = None
    system: str | None = None
    app_cred_id: str | None = None
    trust_id: str | None = None
    # a federated token: (identity provider id, protocol id, group ids from the mapping)
    federation: tuple[str, str, list[str]] | None = None

    @property
    def scope_kind(self) -> str:
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        if self.system:
            return "system"
        return "unscoped"


def encode(repo: KeyRepository, payload: TokenPayload) -> str:
    scope: Any
    if payload.project_id:
        scope = (1, _pack_id(payload.project_id))
    elif payload.domain_id:
        scope = (2, _pack_id(payload.domain_id))
    elif payload.system:
        scope = (3, payload.system)
    else:
        scope = (0, None)
    fields: list[Any] = [
        PAYLOAD_VERSION,
        _pack_id(payload.user_id),
        methods_to_int(payload.methods),
        scope,
        payload.issued_at,
        payload.expires_at,
        [_pack_audit(a) for a in payload.audit_ids],
        _pack_id(payload.app_cred_id),
        _pack_id(payload.trust_id),
    ]
    if payload.federation is not None:  # only federated tokens carry the tenth field
        idp, protocol, groups = payload.federation
        fields.append((idp, protocol, [_pack_id(g) for g in groups]))
    packed = msgpack.packb(tuple(fields))
    token = repo.fernet().encrypt(packed)
    return token.decode().rstrip("=")


def decode(repo: KeyRepository, token: str) -> TokenPayload:
    """Decrypt and unpack; raises NotFound for anything that is not our valid token."""
    try:
        raw = token.encode("ascii")
        raw += b"=" * (-len(raw) % 4)
        data = msgpack.unpackb(repo.fernet().decrypt(raw))
        # tokens issued before trusts existed have no trust field; only federated tokens
        # have the tenth
        version, user, methods, scope, issued, expires, audit, app_cred, *rest = data
        if len(rest) > 2:
            raise ValueError("unknown payload shape")
        trust = rest[0] if rest else None
        federation = None
        if len(rest) == 2:
            idp, protocol, groups = rest[1]
            federation = (str(idp), str(protocol), [_unpack_id(g) or "" for g in groups])
        if version != PAYLOAD_VERSION:
            raise ValueError("unknown payload version")
    except (InvalidToken, ValueError, TypeError, UnicodeEncodeError,
            msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException):
        raise exceptions.NotFound("Could not find token.") from None
    kind, scope_value = scope
    return TokenPayload(
        user_id=_unpack_id(user) or "",
        methods=int_to_methods(methods),
        issued_at=float(issued),
        expires_at=int(expires),
        audit_ids=[_unpack_audit(a) for a in audit],
        project_id=_unpack_id(scope_value) if kind == 1 else None,
        domain_id=_unpack_id(scope_value) if kind == 2 else None,
        system=scope_value if kind == 3 else None,
        app_cred_id=_unpack_id(app_cred),
        trust_id=_unpack_id(trust),
        federation=federation,
    )
