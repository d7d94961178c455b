"""Key pairs: a user's SSH public keys (or x509 certificates), imported or generated."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute import tables as t
from pocketstack.compute.domain import quotas
from pocketstack.compute.domain.common import utcnow


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def ssh_fingerprint(public_key: str) -> str:
    """MD5 of the key blob in colon-hex, as ``ssh-keygen -l -E md5`` and Nova print it."""
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.strip().split()[1], validate=True)
    except (ValueError, IndexError, binascii.Error, TypeError) as exc:
        raise exceptions.BadRequest(
            "Keypair data is invalid: failed to generate fingerprint") from exc
    except Exception as exc:  # noqa: BLE001 - cryptography raises UnsupportedAlgorithm too
        raise exceptions.BadRequest(
            "Keypair data is invalid: failed to generate fingerprint") from exc
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(pem: str) -> str:
    """SHA1 of the certificate's DER in colon-hex."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise exceptions.BadRequest(
            "Keypair data is invalid: failed to generate fingerprint") from exc
    return _colon_hex(cert.fingerprint(hashes.SHA1()))  # noqa: S303 - Nova's format


def fingerprint(public_key: str, key_type: str) -> str:
    return x509_fingerprint(public_key) if key_type == "x509" else ssh_fingerprint(public_key)


def generate(key_type: str, user_id: str) -> tuple[str, str]:
    """A new key pair: (private key PEM, public key). x509 pairs get a self-signed cert."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    if key_type == "x509":
        import datetime as dt

        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, user_id or "nova")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
                .sign(key, hashes.SHA256()))
        return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private_pem, public + " Generated-by-Nova"


def get(conn: Connection, user_id: str, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.keypairs).where(
        t.keypairs.c.user_id == user_id, t.keypairs.c.name == name)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Keypair {name} not found for user {user_id}")
    return dict(row)


def list_(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    q = sa.select(t.keypairs).where(t.keypairs.c.user_id == user_id).order_by(
        t.keypairs.c.name)
    return [dict(r) for r in conn.execute(q).mappings()]


def create(conn: Connection, project_id: str, user_id: str, name: str,
           public_key: str, key_type: str,
           unified: quotas.Unified | None = None) -> dict[str, Any]:
    """Import a public key (fingerprinted here) within the user's key_pairs quota."""
    fp = fingerprint(public_key, key_type)
    if conn.execute(sa.select(t.keypairs.c.id).where(
            t.keypairs.c.user_id == user_id, t.keypairs.c.name == name)).first() is not None:
        raise exceptions.Conflict(f"Key pair '{name}' already exists.")
    try:
        quotas.enforce(conn, project_id, user_id, {"key_pairs": 1}, unified)
    except quotas.OverLimit:
        raise
    except quotas.QuotaExceeded:
        raise quotas.QuotaExceeded("Quota exceeded, too many key pairs.",
                                   ["key_pairs"]) from None
    conn.execute(sa.insert(t.keypairs).values(
        name=name, user_id=user_id, public_key=public_key.strip() + (
            "\n" if key_type == "x509" else ""),
        fingerprint=fp, type=key_type, created_at=utcnow()))
    return get(conn, user_id, name)


def delete(conn: Connection, user_id: str, name: str) -> None:
    row = get(conn, user_id, name)
    conn.execute(sa.delete(t.keypairs).where(t.keypairs.c.id == row["id"]))
