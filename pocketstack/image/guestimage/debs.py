"""Debian packages for the guest image: downloaded once with ``apt-get download``, unpacked once.

The cache directory holds ``debs/NAME_VERSION_ARCH.deb`` and ``tree/NAME_VERSION_ARCH/`` (the
``dpkg-deb -x`` of it). A package already in the cache is used as is: a warm build needs no
network and no apt at all, except to name the kernel behind the meta package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class GuestBuildError(RuntimeError):
    """The guest image cannot be built (a tool or package is missing, a step failed)."""


def run(cmd: list[str], cwd: Path | None = None) -> str:
    """Run a build tool; its stdout, or :class:`GuestBuildError` with its stderr."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GuestBuildError(f"{cmd[0]} is not installed ({exc})") from exc
    if done.returncode != 0:
        raise GuestBuildError(f"{' '.join(cmd)} failed (rc {done.returncode}): "
                              f"{(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def resolve_kernel(meta: str, cache: Path) -> str:
    """The versioned kernel package behind a meta package (``linux-image-cloud-amd64`` ->
    ``linux-image-6.1.0-57-cloud-amd64``); a name that is already versioned is kept. Falls back
    to the newest kernel in the cache when apt cannot answer (offline, no lists)."""
    if meta.removeprefix("linux-image-")[:1].isdigit():
        return meta
    try:
        out = run(["apt-cache", "depends", "--no-recommends", "--no-suggests", meta])
    except GuestBuildError:
        out = ""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip()
    cached = sorted((cache / "debs").glob("linux-image-[0-9]*.deb"))
    if cached:
        return cached[-1].name.split("_", 1)[0]
    raise GuestBuildError(f"apt does not know {meta} (run apt-get update?) and no kernel is "
                          f"cached in {cache / 'debs'}")


def fetch(names: list[str], cache: Path) -> dict[str, Path]:
    """Each package's unpacked tree, downloading (one ``apt-get download``) and unpacking only
    what the cache lacks."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    have = {name: _cached(debs, name) for name in names}
    missing = [name for name, path in have.items() if path is None]
    if missing:
        cmd = ["apt-get", "download", "-q"]
        if os.geteuid() == 0:  # the _apt sandbox user may not write to a root-owned cache
            cmd += ["-o", "APT::Sandbox::User=root"]
        run(cmd + missing, cwd=debs)
        for name in missing:
            have[name] = _cached(debs, name)
            if have[name] is None:
                raise GuestBuildError(f"apt-get download left no {name}_*.deb in {debs}")
    trees = {}
    for name, deb in have.items():
        assert deb is not None
        trees[name] = _unpacked(deb, cache / "tree")
    return trees


def _cached(debs: Path, name: str) -> Path | None:
    found = sorted(debs.glob(f"{name}_*.deb"))
    return found[-1] if found else None


def _unpacked(deb: Path, trees: Path) -> Path:
    tree = trees / deb.name.removesuffix(".deb")
    if (tree / ".unpacked").exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    run(["dpkg-deb", "-x", str(deb), str(partial)])
    (partial / ".unpacked").touch()
    partial.rename(tree)
    return tree
