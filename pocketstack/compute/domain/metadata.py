"""What the metadata API serves of an instance, read in one transaction: its row and the type
of its key pair (``ssh`` or ``x509``; the instance keeps the key's name and data only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute.domain import instances, keypairs


def key_type(key_data: str) -> str:
    return "x509" if key_data.lstrip().startswith("-----BEGIN CERTIFICATE") else "ssh"


def instance_view(conn: Connection, uuid: str) -> dict[str, Any] | None:
    """The live instance ``uuid`` with ``key_type`` added, or None when there is none."""
    try:
        row = instances.get(conn, uuid)
    except exceptions.NotFound:
        return None
    row["key_type"] = None
    if row["key_name"] and row["key_data"]:
        try:
            key = keypairs.get(conn, row["user_id"], row["key_name"])
            same = key["public_key"] == row["key_data"]
            row["key_type"] = key["type"] if same else key_type(row["key_data"])
        except exceptions.NotFound:  # the key pair was deleted; the instance keeps its copy
            row["key_type"] = key_type(row["key_data"])
    return row
