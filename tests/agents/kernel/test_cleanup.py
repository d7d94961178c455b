"""``cleanup.remove_all`` also ends what a cloud keeps in its short run directories
(``/run/pocketstack/<prefix>-<host>``, where a libvirtd lives when the state dir is deep):
the processes of their pid files are killed and the directories removed; another cloud's stay."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel.names import KernelNames

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))


def test_short_run_directories_go_with_their_cloud(tmp_path: Path) -> None:
    prefix, other = "pt" + secrets.token_hex(2), "pt" + secrets.token_hex(2)
    mine, theirs = tmp_path / f"{prefix}-compute1", tmp_path / f"{other}-compute1"
    (mine / "qemu").mkdir(parents=True)
    theirs.mkdir()
    daemon = subprocess.Popen(["sleep", "300"])
    keep = subprocess.Popen(["sleep", "300"])
    try:
        (mine / "libvirtd.pid").write_text(f"{daemon.pid}\n")
        (theirs / "libvirtd.pid").write_text(f"{keep.pid}\n")
        removed = cleanup.remove_all(KernelNames(prefix), short_run=tmp_path)
        assert daemon.wait(timeout=10) == -9
        assert str(mine) in removed and not mine.exists()
        assert theirs.exists() and keep.poll() is None
    finally:
        for proc in (daemon, keep):
            proc.kill()
            proc.wait()
