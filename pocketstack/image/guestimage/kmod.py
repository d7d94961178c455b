"""Kernel modules out of a Debian kernel package, with their dependencies.

The package ships no ``modules.dep`` (``depmod`` makes it at install time), so each module's
``depends=`` is read from its ``.modinfo`` ELF section, and a ``modules.dep`` for the chosen
subset is written for busybox ``modprobe``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from pocketstack.image.guestimage.debs import GuestBuildError


@dataclass(frozen=True)
class Module:
    name: str
    path: Path  # absolute, inside the unpacked package
    rel: str  # relative to lib/modules/<version>/
    depends: tuple[str, ...]


class ModuleTree:
    """The modules of one kernel version in an unpacked kernel package."""

    def __init__(self, package_tree: Path) -> None:
        roots = sorted((package_tree / "lib" / "modules").glob("*")) or \
            sorted((package_tree / "usr" / "lib" / "modules").glob("*"))
        if not roots:
            raise GuestBuildError(f"no lib/modules in {package_tree}")
        self.root = roots[-1]
        self.version = self.root.name
        self.files = {_modname(p): p for p in self.root.rglob("*.ko")}
        builtin = self.root / "modules.builtin"
        self.builtin = {_modname(Path(line.strip())) for line in
                        builtin.read_text().splitlines()} if builtin.exists() else set()

    def closure(self, wanted: list[str]) -> list[Module]:
        """The wanted modules that exist (built-in ones are skipped), dependencies first."""
        order: list[Module] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            key = name.replace("-", "_")
            if key in seen or key in self.builtin or key not in self.files:
                return
            seen.add(key)
            path = self.files[key]
            deps = tuple(d.replace("-", "_") for d in _modinfo(path).get("depends", "").split(",")
                         if d)
            for dep in deps:
                visit(dep)
            order.append(Module(key, path, str(path.relative_to(self.root)), deps))

        for name in wanted:
            visit(name)
        return order

    def modules_dep(self, modules: list[Module]) -> str:
        """``modules.dep`` lines for the subset (every dependency is in it, by construction)."""
        rel = {m.name: m.rel for m in modules}
        lines = []
        for m in modules:
            deps = " ".join(rel[d] for d in _deep(m, {x.name: x for x in modules}) if d in rel)
            lines.append(f"{m.rel}: {deps}".rstrip())
        return "\n".join(lines) + "\n"


def _deep(module: Module, by_name: dict[str, Module]) -> list[str]:
    """All of a module's dependencies, transitively, nearest first (as depmod lists them)."""
    out: list[str] = []
    todo = list(module.depends)
    while todo:
        name = todo.pop(0)
        if name in out or name not in by_name:
            continue
        out.append(name)
        todo.extend(by_name[name].depends)
    return out


def _modname(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def _modinfo(path: Path) -> dict[str, str]:
    """The ``key=value`` strings of an ELF64 module's ``.modinfo`` section."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise GuestBuildError(f"{path} is not an ELF64 module (compressed modules unsupported)")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data,
                                                                     shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            info = {}
            for item in data[off:off + size].split(b"\0"):
                key, sep, value = item.decode(errors="replace").partition("=")
                if sep and key not in info:
                    info[key] = value
            return info
    return {}
