"""The cloud Tempest runs against.

:class:`Cloud` starts ``pocketstack up`` on a throw-away state directory and a free port,
waits until Keystone answers and clouds.yaml is written, and stops it (``pocketstack clean``
for a cloud with a kernel data plane). :func:`load_admin_cloud` reads the admin credentials of
a clouds.yaml (the started cloud's or ``--clouds-yaml``'s); :class:`Api` is a small REST client
on them, with which :func:`prepare_compute_refs` finds or makes the images, flavors and public
network tempest.conf names.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import die, log

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def find_pocketstack(explicit):
    if explicit:
        return explicit
    cand = os.path.join(REPO, ".venv", "bin", "pocketstack")
    if os.path.exists(cand):
        return cand
    found = shutil.which("pocketstack")
    if found:
        return found
    die(
        f"cannot find the pocketstack command (looked in {cand} and PATH); "
        "give --pocketstack CMD or --clouds-yaml FILE"
    )


def http_status(url, timeout=5):
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


class Cloud:
    """A `pocketstack up` child process on a temp state dir."""

    def __init__(self, cmd, outdir, timeout, keep_state, env=None):
        self.cmd = cmd
        self.env = env or {}
        self.outdir = outdir
        self.timeout = timeout
        self.keep_state = keep_state
        self.proc = None
        self.state_dir = None
        self.port = None
        self.logf = None

    def start(self):
        self.state_dir = tempfile.mkdtemp(prefix="pocketstack-tempest-state-")
        self.port = free_port()
        argv = [
            self.cmd,
            "up",
            "--state-dir",
            self.state_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        logpath = os.path.join(self.outdir, "pocketstack.log")
        self.logf = open(logpath, "wb")
        log(
            "starting: {} {}  (log: {})".format(
                " ".join(f"{k}={v}" for k, v in sorted(self.env.items())), " ".join(argv), logpath
            )
        )
        env = dict(os.environ)
        env.update(self.env)
        self.proc = subprocess.Popen(
            argv,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        url = f"http://127.0.0.1:{self.port}/identity"
        clouds = os.path.join(self.state_dir, "clouds.yaml")
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                die(
                    f"pocketstack up exited with {self.proc.returncode} before becoming "
                    f"ready; see {logpath}"
                )
            if http_status(url, timeout=2) == 300 and os.path.exists(clouds):
                log(f"cloud ready on port {self.port} (state {self.state_dir})")
                return clouds
            time.sleep(0.5)
        die(
            f"cloud not ready after {self.timeout}s (GET {url} must answer 300 and "
            f"{clouds} must exist); see {logpath}"
        )

    def stop(self):
        if self.proc and self.proc.poll() is None:
            log(f"stopping cloud (pid {self.proc.pid})")
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if self.state_dir and self.env.get("POCKETSTACK_DATAPLANE", "none") != "none":
            # the kernel objects of the cloud (namespaces, the `public` link in this
            # machine's namespace, guests' cgroups) go with it
            env = dict(os.environ)
            env.update(self.env)
            r = subprocess.run(
                [self.cmd, "clean", "--state-dir", self.state_dir],
                stdout=self.logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=120,
                check=False,
            )
            log(f"pocketstack clean --state-dir {self.state_dir}: exit {r.returncode}")
        if self.logf:
            self.logf.close()
            self.logf = None
        if self.state_dir and os.path.isdir(self.state_dir):
            if self.keep_state:
                log(f"kept state dir {self.state_dir}")
            else:
                shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir = None


def load_admin_cloud(clouds_yaml, cloud_name):
    import yaml

    with open(clouds_yaml) as f:
        data = yaml.safe_load(f) or {}
    clouds = data.get("clouds") or {}
    if cloud_name not in clouds:
        die("cloud {!r} not in {} (has: {})".format(cloud_name, clouds_yaml, ", ".join(clouds)))
    c = clouds[cloud_name]
    auth = c.get("auth") or {}
    for key in ("auth_url", "username", "password"):
        if not auth.get(key):
            die(f"clouds.yaml cloud {cloud_name!r} lacks auth.{key}")
    dom = auth.get("user_domain_name") or auth.get("domain_name") or "Default"
    pdom = auth.get("project_domain_name") or auth.get("domain_name") or dom
    return {
        "auth_url": auth["auth_url"].rstrip("/"),
        "username": auth["username"],
        "password": str(auth["password"]),
        "project_name": auth.get("project_name") or "admin",
        "user_domain_name": dom,
        "project_domain_name": pdom,
        "region": c.get("region_name") or "RegionOne",
    }


# --------------------------------------------------------------------------
# small REST helper for preparing compute/image/network references


class Api:
    def __init__(self, admin):
        self.admin = admin
        self.token = None
        self.catalog = []

    def _req(self, method, url, body=None, headers=None, raw=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["X-Auth-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if raw is not None:
            data = raw
        h.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                txt = r.read()
                return r.status, dict(r.headers), (json.loads(txt) if txt.strip() else None)
        except urllib.error.HTTPError as e:
            txt = e.read()
            try:
                return e.code, dict(e.headers), json.loads(txt)
            except ValueError:
                return e.code, dict(e.headers), txt.decode(errors="replace")

    def login(self):
        a = self.admin
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": a["username"],
                            "domain": {"name": a["user_domain_name"]},
                            "password": a["password"],
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": a["project_name"],
                        "domain": {"name": a["project_domain_name"]},
                    }
                },
            }
        }
        st, hdr, data = self._req("POST", a["auth_url"] + "/v3/auth/tokens", body)
        if st != 201:
            die(f"admin login failed: {st} {data}")
        self.token = {k.lower(): v for k, v in hdr.items()}["x-subject-token"]
        self.catalog = data["token"].get("catalog") or []

    def endpoint(self, *types):
        for t in types:
            for svc in self.catalog:
                if svc.get("type") != t:
                    continue
                eps = [e for e in svc.get("endpoints", []) if e.get("interface") == "public"]
                for e in eps:
                    if e.get("region_id", e.get("region")) == self.admin["region"]:
                        return e["url"].rstrip("/")
                if eps:
                    return eps[0]["url"].rstrip("/")
        return None

    def get(self, url):
        return self._req("GET", url)

    def post(self, url, body):
        return self._req("POST", url, body)


def prepare_compute_refs(api, conf):
    """Fill [compute] image_ref/flavor_ref and [network] public net when the
    services are available and the values were not given."""

    def avail(s):
        return conf.get("service_available", s, fallback="false").lower() == "true"

    if avail("glance") and not (
        conf.get("compute", "image_ref") and conf.get("compute", "image_ref_alt")
    ):
        url = api.endpoint("image")
        if not url:
            die("glance marked available but no 'image' endpoint in the catalog")
        base = url if re.search(r"/v2(\.\d+)?$", url) else url + "/v2"
        ids = []
        for name in ("pocketstack-tempest-image-1", "pocketstack-tempest-image-2"):
            st, _, data = api.get(base + "/images?name=" + name)
            images = (data or {}).get("images", []) if st == 200 else []
            found = [i for i in images if i.get("status") == "active"]
            if found:
                ids.append(found[0]["id"])
                continue
            st, _, img = api.post(
                base + "/images",
                {
                    "name": name,
                    "disk_format": "raw",
                    "container_format": "bare",
                    "visibility": "public",
                },
            )
            if st not in (200, 201):
                die(f"creating image {name} failed: {st} {img}")
            st, _, out = api._req(
                "PUT",
                base + "/images/{}/file".format(img["id"]),
                raw=b"\0" * (1024 * 1024),
                headers={"Content-Type": "application/octet-stream"},
            )
            if st not in (200, 201, 204):
                die(f"uploading image {name} failed: {st} {out}")
            ids.append(img["id"])
        conf.set("compute", "image_ref", conf.get("compute", "image_ref") or ids[0])
        conf.set("compute", "image_ref_alt", conf.get("compute", "image_ref_alt") or ids[1])
        log(
            "image_ref={} image_ref_alt={}".format(
                conf.get("compute", "image_ref"), conf.get("compute", "image_ref_alt")
            )
        )
    if avail("nova") and not (
        conf.get("compute", "flavor_ref") and conf.get("compute", "flavor_ref_alt")
    ):
        url = api.endpoint("compute")
        if not url:
            die("nova marked available but no 'compute' endpoint in the catalog")
        st, _, data = api.get(url + "/flavors/detail")
        flavors = sorted(
            (data or {}).get("flavors", []) if st == 200 else [],
            key=lambda f: (f.get("ram", 0), f.get("vcpus", 0), f.get("disk", 0)),
        )
        for i in range(len(flavors), 2):
            name = f"pocketstack.tempest{i + 1}"
            st, _, fl = api.post(
                url + "/flavors",
                {"flavor": {"name": name, "ram": 64 * (i + 1), "vcpus": 1, "disk": 1}},
            )
            if st not in (200, 201):
                die(f"creating flavor {name} failed: {st} {fl}")
            flavors.append(fl["flavor"])
        for opt, fl in (("flavor_ref", flavors[0]), ("flavor_ref_alt", flavors[1])):
            conf.set("compute", opt, conf.get("compute", opt) or str(fl["id"]))
        log(
            "flavor_ref={} flavor_ref_alt={}".format(
                conf.get("compute", "flavor_ref"), conf.get("compute", "flavor_ref_alt")
            )
        )
    if avail("neutron") and not conf.get("network", "public_network_id"):
        url = api.endpoint("network")
        if not url:
            die("neutron marked available but no 'network' endpoint in the catalog")
        st, _, data = api.get(url + "/v2.0/networks?router:external=True")
        nets = (data or {}).get("networks", []) if st == 200 else []
        if nets:
            conf.set("network", "public_network_id", nets[0]["id"])
            if not conf.get("network", "floating_network_name"):
                conf.set("network", "floating_network_name", nets[0].get("name", ""))
            log("public_network_id={}".format(nets[0]["id"]))
        else:
            log("WARNING: no router:external network; public_network_id left empty")
