"""Build small, valid qcow2 images in pure Python (no qemu-utils needed).

:func:`empty_qcow2` writes what ``qemu-img create -f qcow2 -o compat=0.10`` writes: a version 2
header, an all-zero L1 table, a refcount table and one refcount block that counts the four
metadata clusters. Every guest read returns zeros; ``qemu-img check`` finds no errors. With
``backing_file`` it produces an (unsafe) overlay, which is what upload checks must refuse.
"""

from __future__ import annotations

import struct

CLUSTER_BITS = 16
CLUSTER = 1 << CLUSTER_BITS
GiB = 1 << 30


def empty_qcow2(virtual_size: int = GiB, backing_file: str | None = None) -> bytes:
    """A qcow2 image of ``virtual_size`` bytes with no data clusters allocated."""
    if virtual_size <= 0 or virtual_size % 512:
        raise ValueError("virtual_size must be a positive multiple of 512")
    l2_entries = CLUSTER // 8
    per_l1 = CLUSTER * l2_entries
    l1_size = (virtual_size + per_l1 - 1) // per_l1
    l1_clusters = max(1, (l1_size * 8 + CLUSTER - 1) // CLUSTER)
    # cluster 0: header; then L1 table; then refcount table; then one refcount block.
    l1_offset = CLUSTER
    rt_offset = l1_offset + l1_clusters * CLUSTER
    rb_offset = rt_offset + CLUSTER
    total_clusters = 3 + l1_clusters
    if total_clusters > CLUSTER // 2:
        raise ValueError("virtual_size too large for a single refcount block")
    backing = (backing_file or "").encode()
    header = struct.pack(
        ">4sIQIIQIIQQIIQ",
        b"QFI\xfb",
        2,  # version
        72 if backing else 0,  # backing_file_offset (right after the v2 header)
        len(backing),  # backing_file_size
        CLUSTER_BITS,
        virtual_size,
        0,  # crypt_method
        l1_size,
        l1_offset,
        rt_offset,
        1,  # refcount_table_clusters
        0,  # nb_snapshots
        0,  # snapshots_offset
    )
    out = bytearray(total_clusters * CLUSTER)
    out[: len(header)] = header
    if backing:
        if 72 + len(backing) > CLUSTER:
            raise ValueError("backing file name too long")
        out[72 : 72 + len(backing)] = backing
    struct.pack_into(">Q", out, rt_offset, rb_offset)
    for cluster in range(total_clusters):
        struct.pack_into(">H", out, rb_offset + cluster * 2, 1)
    return bytes(out)
