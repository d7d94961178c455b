"""Which Tempest tests a run selects.

Tempest lists what a regex (run.py's, from ``--service`` or ``--regex``) selects
(:func:`list_tests`), less the exclusions (tools/tempest/exclude.txt and
``--exclude-regex``); ``--interop`` keeps the tests of the interop guideline's load list
(:func:`interop_selection`).
"""

import os
import re
import subprocess

from harness import die, log
from workspace import tempest_bin


def read_id_list(path):
    ids = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                ids.append(line)
    return ids


def read_exclude_regexes(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def list_tests(ws, regex, excludes):
    cmd = [
        tempest_bin("tempest"),
        "run",
        "--list-tests",
        "--config-file",
        os.path.join(ws, "etc", "tempest.conf"),
        "--regex",
        regex,
    ]
    r = subprocess.run(cmd, cwd=ws, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"tempest run --list-tests failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    ids = [ln.strip() for ln in r.stdout.splitlines() if ln.strip().startswith("tempest.")]
    if excludes:
        rx = [re.compile(e) for e in excludes]
        ids = [i for i in ids if not any(x.search(i) for x in rx)]
    return ids


def interop_selection(selected, load_list, regex, service_rx, outdir):
    """The tests of the interop load list (matching ``service_rx``, and ``regex`` if given)
    that this Tempest has; the ids it lacks are written to interop-missing.txt."""
    wanted = read_id_list(load_list)
    # Match on the test path without the [id-...,tags] suffix: tags
    # change between tempest releases (e.g. 'slow' was dropped from
    # test_attach_detach_volume), the path does not.
    avail = {i.split("[", 1)[0]: i for i in selected}
    rx = re.compile(regex) if regex else None
    in_service = [i for i in wanted if re.match(service_rx, i) and (rx is None or rx.search(i))]
    missing = [i for i in in_service if i.split("[", 1)[0] not in avail]
    selected = [avail[i.split("[", 1)[0]] for i in in_service if i.split("[", 1)[0] in avail]
    if missing:
        miss = os.path.join(outdir, "interop-missing.txt")
        log(
            f"WARNING: {len(missing)} interop ids not found in this tempest "
            f"(or excluded): see {miss}"
        )
        with open(os.path.join(outdir, "interop-missing.txt"), "w") as f:
            f.write("\n".join(missing) + "\n")
    return selected
