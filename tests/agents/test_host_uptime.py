"""The agent's host uptime is what ``/proc`` says, in ``uptime``'s words."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pocketstack.agents.compute import host_uptime


@pytest.mark.parametrize(("seconds", "words"), [
    (59.9, "0 min"), (41 * 60 + 5, "41 min"), (3600 + 36 * 60, " 1:36"),
    (86400 + 4 * 3600 + 5 * 60, "1 day,  4:05"), (3 * 86400 + 125, "3 days, 2 min"),
])
def test_duration_in_procps_words(tmp_path: Path, seconds: float, words: str) -> None:
    (tmp_path / "uptime").write_text(f"{seconds} 1234.5\n")
    (tmp_path / "loadavg").write_text("0.21 0.16 0.19 1/234 5678\n")
    now = time.time()
    clock = time.strftime("%H:%M:%S", time.localtime(now))
    assert host_uptime.describe(tmp_path, now) == \
        f" {clock} up {words},  load average: 0.21, 0.16, 0.19"


def test_nothing_to_read_is_no_uptime(tmp_path: Path) -> None:
    assert host_uptime.describe(tmp_path) is None
    (tmp_path / "uptime").write_text("garbage\n")
    (tmp_path / "loadavg").write_text("0.1 0.2 0.3\n")
    assert host_uptime.describe(tmp_path) is None


def test_this_machine() -> None:
    if not Path("/proc/uptime").exists():
        pytest.skip("no /proc on this machine")
    said = host_uptime.describe()
    assert said is not None and " up " in said and "load average: " in said
