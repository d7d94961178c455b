#!/usr/bin/env bash
# Tempest conformance harness for Pocketstack.
#
#   tools/tempest/run.sh [--service identity|image|compute|network|volume|all]
#                        [--interop] [--regex R] [--clouds-yaml FILE] [--list-only] ...
#   tools/tempest/run.sh --help      # all options (they belong to run.py)
#
# Creates (once) a venv with the pinned Tempest outside the repo, then hands
# over to run.py, which starts `pocketstack up` (or uses --clouds-yaml),
# writes tempest.conf, runs Tempest and summarises.  See docs/conformance.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${POCKETSTACK_TEMPEST_VENV:-$HOME/.cache/pocketstack/tempest-venv}"
PYTHON="${POCKETSTACK_TEMPEST_PYTHON:-python3}"
STAMP_FILE="$VENV/.pocketstack-requirements.sha256"

say() { echo "[tempest-harness] $*" >&2; }

apt_install() {
    # Only used when something is missing; we run as root here.
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        say "installing Debian packages: $*"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
    else
        say "cannot install $* (no apt-get); install them and retry"
        exit 2
    fi
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3 python3-venv python3-pip
    PYTHON=python3
fi
# Debian's python3 needs python3-venv for ensurepip inside venvs.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv python3-pip
fi
# gcc/headers only matter if a wheel is missing for this platform (bcrypt,
# cryptography, pynacl ship wheels for x86_64/aarch64 Linux).

want_stamp="$(cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -d' ' -f1)"
have_stamp="$(cat "$STAMP_FILE" 2>/dev/null || true)"
if [ ! -x "$VENV/bin/tempest" ] || [ "$want_stamp" != "$have_stamp" ]; then
    say "preparing Tempest venv at $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if ! "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt" -c "$HERE/constraints.txt"; then
        # The constraints were frozen on Python 3.11; another Python may need
        # other versions of the dependencies.  Tempest itself stays pinned.
        say "install with constraints.txt failed; retrying with requirements.txt only"
        "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt"
    fi
    "$VENV/bin/tempest" --version >/dev/null 2>&1 || { say "tempest did not install"; exit 2; }
    echo "$want_stamp" > "$STAMP_FILE"
fi

exec "$VENV/bin/python" "$HERE/run.py" "$@"
