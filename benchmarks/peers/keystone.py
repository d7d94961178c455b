"""The real OpenStack Keystone (PyPI `keystone`), run locally as a benchmark peer.

Everything lives outside the repo, in ${POCKETSTACK_PEER_DIR:-~/.cache/pocketstack/peers}/keystone:

    venv/        keystone + gunicorn + pymemcache (installed once, ~30 s; reused)
    state/       keystone.db (SQLite), fernet-keys/, credential-keys/ (reused while the
                 admin password is unchanged; recreated in ~15-20 s otherwise or with fresh=True)
    run/         keystone.conf, the gunicorn entry module, logs of the last run

A run uses a real memcached on 127.0.0.1 on a free port (Debian `memcached`, installed with
apt-get when missing), because Keystone without its cache is ~50x slower and would make any
comparison meaningless. gunicorn serves 2 sync workers on a free loopback port.

Usage from a benchmark:

    from benchmarks.peers.keystone import Keystone
    with Keystone(admin_password="pw") as ks:
        ks.url          # http://127.0.0.1:PORT/v3
        ks.server_pid   # gunicorn master pid (its workers are its children)

or `python -m benchmarks.peers.keystone [--fresh] [--hold SECONDS]` to try it by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._common import free_port, stop_group, wait_status  # noqa: E402

PACKAGES = ["keystone", "gunicorn", "pymemcache", "python-memcached"]
WORKERS = 2
BCRYPT_ROUNDS = 12  # Keystone's default, stated explicitly in keystone.conf


def peer_root() -> Path:
    base = os.environ.get("POCKETSTACK_PEER_DIR") or os.path.expanduser(
        "~/.cache/pocketstack/peers"
    )
    return Path(base) / "keystone"


def _log(msg: str) -> None:
    print(f"[keystone-peer] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- installation (once)


def ensure_venv(root: Path | None = None) -> Path:
    """Create root/venv with Keystone and gunicorn unless it is already there. Returns the venv."""
    root = root or peer_root()
    venv = root / "venv"
    marker = root / "installed.json"
    if (
        marker.exists()
        and (venv / "bin" / "keystone-manage").exists()
        and (venv / "bin" / "gunicorn").exists()
    ):
        return venv
    root.mkdir(parents=True, exist_ok=True)
    _log(f"installing {' '.join(PACKAGES)} into {venv} (once, ~30-60 s)")
    t0 = time.perf_counter()
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *PACKAGES],
        check=True,
    )
    ver = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('keystone'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    marker.write_text(
        json.dumps({"keystone": ver, "installed_in_s": round(time.perf_counter() - t0, 1)})
    )
    return venv


def keystone_version(root: Path | None = None) -> str:
    try:
        return json.loads(((root or peer_root()) / "installed.json").read_text())["keystone"]
    except (OSError, ValueError, KeyError):
        return "?"


def memcached_binary() -> str:
    exe = shutil.which("memcached") or (
        "/usr/bin/memcached" if os.path.exists("/usr/bin/memcached") else None
    )
    if exe:
        return exe
    if os.geteuid() != 0:
        raise RuntimeError("memcached is not installed; run: sudo apt-get install -y memcached")
    _log("installing memcached with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "memcached"], env=env)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "memcached"], env=env, check=True)
    exe = shutil.which("memcached") or "/usr/bin/memcached"
    if not os.path.exists(exe):
        raise RuntimeError("memcached still missing after apt-get install")
    return exe


# ---------------------------------------------------------------- memcached (per run)


class Memcached:
    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None

    def start(self) -> Memcached:
        cmd = [
            memcached_binary(),
            "-l",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "0",
            "-m",
            "64",
            "-t",
            "2",
        ]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        log = open(self.log_dir / "memcached.log", "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        end = time.time() + 10
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"memcached exited with {self.proc.returncode}; "
                    f"see {self.log_dir}/memcached.log"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(64).startswith(b"VERSION"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise TimeoutError("memcached did not answer within 10 s")

    def stats(self) -> dict[str, int]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"stats\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        out = {}
        for line in buf.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
                out[parts[1]] = int(parts[2])
        return out

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, first=15, grace=5)
            self.proc = None


# ---------------------------------------------------------------- Keystone

WSGI_SHIM = """\
# Generated by benchmarks/peers/keystone.py. Keystone parses sys.argv with oslo.config when it is
# imported; under gunicorn that is gunicorn's own command line and every worker exits with code 2.
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
"""


class Keystone:
    """Start/stop a real Keystone (+ its memcached). Context manager; or call start()/stop()."""

    def __init__(
        self,
        admin_password: str = "pocketstack-bench",
        fresh: bool = False,
        workers: int = WORKERS,
        root: Path | None = None,
        port: int | None = None,
    ):
        self.root = root or peer_root()
        self.admin_password = admin_password
        self.fresh = fresh
        self.workers = workers
        self.port = port
        self.state = self.root / "state"
        self.run_dir = self.root / "run"
        self.memcached: Memcached | None = None
        self.proc: subprocess.Popen | None = None
        self.setup_s: float | None = None  # db_sync + keys + bootstrap, when they ran
        self.ready_s: float | None = None  # gunicorn spawn -> first 200 on /v3

    # -- config
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/v3"

    @property
    def v3(self) -> str:  # same name as the Pocketstack target's, for the benchmark scripts
        return self.url

    @property
    def password(self) -> str:
        return self.admin_password

    @property
    def server_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _write_conf(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        mc = f"127.0.0.1:{self.memcached.port}" if self.memcached else "127.0.0.1:11211"
        conf = f"""\
[DEFAULT]
debug = false
use_stderr = true

[database]
connection = sqlite:///{self.state}/keystone.db

[token]
provider = fernet
expiration = 3600

[fernet_tokens]
key_repository = {self.state}/fernet-keys

[fernet_receipts]
key_repository = {self.state}/fernet-keys

[credential]
key_repository = {self.state}/credential-keys

[identity]
password_hash_algorithm = bcrypt
password_hash_rounds = {BCRYPT_ROUNDS}

[cache]
enabled = true
backend = dogpile.cache.pymemcache
memcache_servers = {mc}
"""
        path = self.run_dir / "keystone.conf"
        path.write_text(conf)
        (self.run_dir / "pocketstack_keystone_wsgi.py").write_text(WSGI_SHIM)
        return path

    def _env(self) -> dict[str, str]:
        return dict(
            os.environ,
            OS_KEYSTONE_CONFIG_DIR=str(self.run_dir),
            OS_KEYSTONE_CONFIG_FILES="keystone.conf",
        )

    def _manage(self, venv: Path, conf: Path, *args: str) -> None:
        log = self.run_dir / "keystone-manage.log"
        with open(log, "ab") as f:
            r = subprocess.run(
                [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf), *args],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=self._env(),
            )
        if r.returncode != 0:
            raise RuntimeError(f"keystone-manage {args[0]} failed ({r.returncode}); see {log}")

    def _state_marker(self) -> str:
        return hashlib.sha256(f"{self.admin_password}|rounds={BCRYPT_ROUNDS}".encode()).hexdigest()

    def prepare(self) -> None:
        """Install once; (re)create the database, keys and admin user unless cached ones match."""
        venv = ensure_venv(self.root)
        marker = self.state / "bootstrapped"
        if (
            not self.fresh
            and marker.exists()
            and marker.read_text() == self._state_marker()
            and (self.state / "keystone.db").exists()
        ):
            self.setup_s = None
            return
        if self.port is None:
            self.port = free_port()
        conf = self._write_conf()
        shutil.rmtree(self.state, ignore_errors=True)
        (self.state).mkdir(parents=True)
        (self.run_dir / "keystone-manage.log").unlink(missing_ok=True)
        t0 = time.perf_counter()
        own = (
            ["--keystone-user", "root", "--keystone-group", "root"]
            if os.geteuid() == 0
            else ["--keystone-user", str(os.geteuid()), "--keystone-group", str(os.getegid())]
        )
        self._manage(venv, conf, "fernet_setup", *own)
        self._manage(venv, conf, "credential_setup", *own)
        self._manage(venv, conf, "db_sync")
        self._manage(
            venv,
            conf,
            "bootstrap",
            "--bootstrap-password",
            self.admin_password,
            "--bootstrap-admin-url",
            f"{self.base}/v3/",
            "--bootstrap-public-url",
            f"{self.base}/v3/",
            "--bootstrap-internal-url",
            f"{self.base}/v3/",
            "--bootstrap-region-id",
            "RegionOne",
        )
        self.setup_s = time.perf_counter() - t0
        marker.write_text(self._state_marker())

    def start(self) -> Keystone:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.memcached = Memcached(self.run_dir).start()
        try:
            self.prepare()
            if self.port is None:
                self.port = free_port()
            self._write_conf()  # with this run's memcached port
            venv = self.root / "venv"
            cmd = [
                str(venv / "bin" / "gunicorn"),
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(self.run_dir),
                "--pythonpath",
                str(self.run_dir),
                "--timeout",
                "120",
                "--log-level",
                "warning",
                "--name",
                "pocketstack-bench-keystone",
                "pocketstack_keystone_wsgi:application",
            ]
            log = open(self.run_dir / "gunicorn.log", "wb")
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True
            )
            # Both workers load the app lazily; wait until the version document answers, then make
            # sure every worker has imported Keystone (a few extra requests hit both workers).
            wait_status(f"{self.url}", {200}, 120, proc=self.proc)
            self.ready_s = time.perf_counter() - t0
            for _ in range(4 * self.workers):
                wait_status(f"{self.url}", {200}, 60, proc=self.proc)
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, first=15, grace=10)  # SIGTERM: gunicorn's graceful stop
            self.proc = None
        if self.memcached is not None:
            self.memcached.stop()
            self.memcached = None

    def __enter__(self) -> Keystone:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fresh", action="store_true", help="recreate the database and keys")
    ap.add_argument("--password", default="pocketstack-bench")
    ap.add_argument(
        "--hold", type=float, default=0, help="keep serving this many seconds (max 3600)"
    )
    a = ap.parse_args(argv)
    with Keystone(admin_password=a.password, fresh=a.fresh) as ks:
        print(
            json.dumps(
                {
                    "url": ks.url,
                    "keystone": keystone_version(),
                    "setup_s": ks.setup_s,
                    "ready_s": ks.ready_s,
                    "memcached_port": ks.memcached.port,
                    "gunicorn_pid": ks.server_pid,
                }
            ),
            flush=True,
        )
        time.sleep(min(max(a.hold, 0), 3600))
    return 0


if __name__ == "__main__":
    sys.exit(main())
