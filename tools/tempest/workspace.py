"""Tempest itself: its commands, its workspace, and a run of the selected tests.

:func:`init_workspace` makes a throw-away ``tempest init`` workspace in the output directory;
:func:`run_tempest` runs a load list there (progress lines shown, the console kept in
``console.txt``) and exports the run's subunit stream. A run's processes are kept in
``CHILDREN`` so that :func:`stop_children` ends them when the harness is stopped.
"""

import os
import re
import secrets
import shutil
import subprocess
import sys

from harness import die, log

CHILDREN: list[subprocess.Popen] = []  # tempest runs to end if we are stopped


def tempest_bin(name):
    p = os.path.join(os.path.dirname(sys.executable), name)
    return p if os.path.exists(p) else name


def tempest_version():
    try:
        from importlib.metadata import version

        return version("tempest")
    except Exception:
        return "unknown"


def init_workspace(outdir):
    ws = os.path.join(outdir, "workspace")
    if os.path.exists(ws):
        shutil.rmtree(ws)
    name = f"pocketstack-{secrets.token_hex(4)}"
    cmd = [
        tempest_bin("tempest"),
        "init",
        "--name",
        name,
        "--workspace-path",
        os.path.join(outdir, "workspace.yaml"),
        ws,
    ]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        die("tempest init failed:\n" + r.stdout)
    os.makedirs(os.path.join(ws, "logs"), exist_ok=True)
    return ws


def run_tempest(ws, load_list, concurrency, outdir):
    cmd = [
        tempest_bin("tempest"),
        "run",
        "--config-file",
        os.path.join(ws, "etc", "tempest.conf"),
        "--load-list",
        load_list,
        "--concurrency",
        str(concurrency),
    ]
    log("running: {}".format(" ".join(cmd)))
    console = os.path.join(outdir, "console.txt")
    with open(console, "w") as f:
        p = subprocess.Popen(
            cmd, cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        CHILDREN.append(p)
        assert p.stdout is not None
        for line in p.stdout:
            f.write(line)
            # show progress lines only
            if re.match(r"^\{\d+\} ", line):
                sys.stdout.write("  " + line)
                sys.stdout.flush()
        p.wait()
    sub = os.path.join(outdir, "results.subunit")
    with open(sub, "wb") as f:
        subprocess.run(
            [tempest_bin("stestr"), "last", "--subunit"],
            cwd=ws,
            stdout=f,
            stderr=subprocess.DEVNULL,
        )
    return p.returncode, sub


def stop_children():
    """End the Tempest runs still going (the harness was stopped)."""
    for child in CHILDREN:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
