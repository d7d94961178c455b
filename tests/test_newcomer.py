"""The newcomer's path: the suite's last line says what was skipped and why (and CI turns a
skip into a failure), and the package metadata is what setuptools takes without deprecation
warnings (an SPDX license string, no license table or classifier)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SKIPPING = '''
import pytest

@pytest.mark.parametrize("n", [1, 2])
def test_needs_a_tool(n):
    pytest.skip("qemu-img is not installed")

def test_needs_root():
    pytest.skip("needs root")

def test_runs():
    assert True
'''


def _run_suite(tmp_path: Path, no_skips: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_makereport, pytest_unconfigure  # noqa\n")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "POCKETSTACK_NO_SKIPS"}
    env["PYTHONPATH"] = str(ROOT)
    if no_skips:
        env["POCKETSTACK_NO_SKIPS"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_last_line_counts_skips_and_says_why(tmp_path: Path) -> None:
    proc = _run_suite(tmp_path, no_skips=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "3 skipped: 2 qemu-img is not installed; 1 needs root", proc.stdout


def test_ci_makes_a_skip_a_failure(tmp_path: Path) -> None:
    proc = _run_suite(tmp_path, no_skips=True)
    assert proc.returncode == 1, proc.stdout
    assert "3 failed, 1 passed" in proc.stdout
    assert "POCKETSTACK_NO_SKIPS=1 (CI) makes every test mandatory: needs root" in proc.stdout


def test_license_metadata_is_an_spdx_expression() -> None:
    """setuptools ≥ 77 takes ``license = "<SPDX>"``; a ``{text = …}`` table or a ``License ::``
    classifier is what printed the deprecation warnings on ``pip install``."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    assert project["license"] == "Apache-2.0"
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    wanted = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    assert len(wanted) == 1
    found = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", wanted[0])
    assert found is not None and int(found.group(1)) >= 77, wanted
