#!/usr/bin/env python3
"""Run Tempest against Pocketstack.

Normally started through tools/tempest/run.sh, which prepares the Tempest venv
and runs this file with that venv's Python (so tempest, stestr, subunit,
testtools, requests and PyYAML are importable here).

Steps: start `pocketstack up` on a fresh state dir and a free port (or use a
running cloud given with --clouds-yaml), render tempest.conf from
tempest.conf.in and clouds.yaml, `tempest init` a throw-away workspace, run the
selected tests, summarise them and write results to the output dir, stop the
cloud.  See docs/conformance.md.
"""

import argparse
import configparser
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from typing import NoReturn

import guests  # tools/tempest/guests.py: the guests Tempest logs into (--validation)

CHILDREN: list[subprocess.Popen] = []  # tempest runs to end if we are stopped
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TEMPLATE = os.path.join(HERE, "tempest.conf.in")
INTEROP_LIST = os.path.join(HERE, "interop-2022.11-compute.load-list")
EXCLUDE_LIST = os.path.join(HERE, "exclude.txt")

SERVICES = {
    # --service name -> (tempest.api package, [service_available] option)
    "identity": ("identity", None),
    "image": ("image", "glance"),
    "compute": ("compute", "nova"),
    "network": ("network", "neutron"),
    "volume": ("volume", "cinder"),
}


def log(msg):
    print(f"[tempest-harness] {msg}", flush=True)


def die(msg, code=2) -> NoReturn:
    log("ERROR: " + msg)
    sys.exit(code)


# --------------------------------------------------------------------------
# selection


def parse_services(value):
    names = [v.strip() for v in value.split(",") if v.strip()]
    if "all" in names:
        return list(SERVICES)
    for n in names:
        if n not in SERVICES:
            die("unknown service {!r} (choose from {}, all)".format(n, ", ".join(SERVICES)))
    return names


def service_regex(services):
    pkgs = "|".join(SERVICES[s][0] for s in services)
    return rf"^tempest\.api\.({pkgs})\."


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


# --------------------------------------------------------------------------
# cloud


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


# --------------------------------------------------------------------------
# config


def oslo_escape(value):
    # oslo.config interpolates $name; a literal $ is written $$.
    return str(value).replace("$", "$$")


def render_conf(admin, workspace, sets, api=None, catalog_types=None, validation=None):
    """tempest.conf; ``validation`` names the compute driver whose guests Tempest logs into
    (--validation), None for the API run."""
    if validation:
        sets = guests.validation_sets(validation) + list(sets)
    with open(TEMPLATE) as f:
        tmpl = string.Template(f.read())
    uri_v3 = admin["auth_url"]
    if not re.search(r"/v3/?$", uri_v3):
        uri_v3 += "/v3"
    volume_type = "block-storage"
    for t in ("block-storage", "volumev3", "volume"):
        if catalog_types and t in catalog_types:
            volume_type = t
            break
    values = {
        "LOG_FILE": os.path.join(workspace, "logs", "tempest.log"),
        "LOCK_PATH": os.path.join(workspace, "tempest_lock"),
        "ADMIN_USERNAME": oslo_escape(admin["username"]),
        "ADMIN_PASSWORD": oslo_escape(admin["password"]),
        "ADMIN_PROJECT_NAME": oslo_escape(admin["project_name"]),
        "ADMIN_DOMAIN_NAME": oslo_escape(admin["user_domain_name"]),
        "ADMIN_USER_DOMAIN_NAME": oslo_escape(admin["user_domain_name"]),
        "ADMIN_PROJECT_DOMAIN_NAME": oslo_escape(admin["project_domain_name"]),
        "IDENTITY_URI_V3": uri_v3,
        "REGION": admin["region"],
        "VOLUME_CATALOG_TYPE": volume_type,
    }
    text = tmpl.substitute(values)
    conf = configparser.ConfigParser(interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read_string(text)
    explicit = set()
    for item in sets:
        m = re.match(r"^([^.=]+)\.([^=]+)=(.*)$", item)
        if not m:
            die(f"--set wants section.option=value, got {item!r}")
        sec, opt, val = m.groups()
        if not conf.has_section(sec):
            conf.add_section(sec)
        conf.set(sec, opt, val)
        explicit.add((sec, opt))
    if ("auth", "create_isolated_networks") not in explicit:
        conf.set(
            "auth",
            "create_isolated_networks",
            conf.get("service_available", "neutron", fallback="false"),
        )
    if api is not None:
        if validation == "libvirt":
            prepare_guest_image(api, conf)
        prepare_compute_refs(api, conf)
    return conf


def prepare_guest_image(api, conf):
    """Real VMs boot the guest image the cloud registered (`up --guest-image`)."""
    url = api.endpoint("image")
    if not url:
        die("no 'image' endpoint in the catalog")
    base = url if re.search(r"/v2(\.\d+)?$", url) else url + "/v2"
    try:
        image = guests.set_guest_image(api, conf, base)
    except (RuntimeError, OSError) as exc:  # urllib's errors are OSErrors
        die(f"preparing the guest images: {exc}")
    if image is None:
        die(f"the cloud has no active {guests.GUEST_IMAGE!r} image (up --guest-image)")
    log(f"guest image {guests.GUEST_IMAGE} = {image}; image_ref_alt = "
        f"{conf.get('compute', 'image_ref_alt')}")


def write_conf(conf, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# Generated by tools/tempest/run.py from tools/tempest/tempest.conf.in\n")
        conf.write(f)


def cloud_env_for(conf, extra, driver="namespace"):
    """Settings for the cloud we start, so that it enforces what tempest.conf
    says it enforces (devstack does the same to keystone.conf for Tempest)."""
    env = {}
    if conf.get("validation", "run_validation", fallback="false").lower() == "true":
        # guests Tempest can reach: the kernel data plane, the driver's guests, and `public`
        # wired to this machine's namespace (devstack's br-ex) for the floating IPs
        env.update(guests.cloud_env(driver))
    else:
        # the API run: the model only, fake guests (fast, no kernel objects)
        env.update({"POCKETSTACK_DATAPLANE": "none", "POCKETSTACK_COMPUTE_DRIVER": "fake"})
    sc = conf.get("identity-feature-enabled", "security_compliance", fallback="false")
    if sc.lower() == "true":
        for opt, setting in (
            ("user_lockout_failure_attempts", "LOCKOUT_FAILURE_ATTEMPTS"),
            ("user_lockout_duration", "LOCKOUT_DURATION"),
            ("user_unique_last_password_count", "UNIQUE_LAST_PASSWORD_COUNT"),
            ("user_minimum_password_age", "MINIMUM_PASSWORD_AGE"),
        ):
            env["POCKETSTACK_" + setting] = conf.get("identity", opt)
    if conf.get("service_available", "nova", fallback="false").lower() == "true":
        # As many in-process compute hosts as tempest.conf says there are.
        nodes = conf.get("compute", "min_compute_nodes", fallback="1") or "1"
        env["POCKETSTACK_COMPUTE_HOSTS"] = str(max(1, int(nodes)))
    if conf.get("service_available", "glance", fallback="false").lower() == "true":
        enforce = conf.get("image-feature-enabled", "image_format_enforcement", fallback="true")
        if enforce.lower() == "false":
            # Glance's require_image_format_match off, as tempest.conf declares.
            env["POCKETSTACK_IMAGE_REQUIRE_FORMAT_MATCH"] = "0"
        if conf.get("image", "image_caching_enabled", fallback="false").lower() == "true":
            env["POCKETSTACK_IMAGE_CACHE"] = "true"  # the cache API Tempest is told of
    for item in extra:
        k, sep, v = item.partition("=")
        if not sep:
            die(f"--cloud-env wants NAME=VALUE, got {item!r}")
        env[k] = v
    return env


def dummy_admin():
    return {
        "auth_url": "http://127.0.0.1:9/identity",
        "username": "admin",
        "password": "unused",
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region": "RegionOne",
    }


# --------------------------------------------------------------------------
# tempest


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


# --------------------------------------------------------------------------
# results


def parse_subunit(path):
    import subunit
    import testtools

    tests = {}

    def on_test(t):
        if t["status"] in ("exists", "inprogress", None):
            return
        tests[t["id"]] = t

    with open(path, "rb") as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        res = testtools.StreamToDict(on_test)
        res.startTestRun()
        try:
            stream.run(res)
        finally:
            res.stopTestRun()
    return tests


def detail_text(t, key):
    d = t["details"].get(key)
    if d is None:
        return ""
    try:
        return d.as_text()
    except Exception:
        return ""


def first_error_line(tb):
    """The exception line of a traceback, with tempest's 'Details:' tail."""
    lines = [ln for ln in tb.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        ln = lines[i]
        if re.match(
            r"^[A-Za-z_][\w.]*(Error|Exception|Unauthorized|NotFound|Forbidden|Conflict|"
            r"BadRequest|Timeout|Failure|Mismatch\w*|InvalidHTTPResponseBody|"
            r"InvalidContentType|ServerFault|UnexpectedResponseCode|[A-Z]\w+)"
            r"(:|$)",
            ln,
        ) and not ln.startswith("Traceback"):
            return " ".join(x.strip() for x in lines[i:])[:600]
    return (lines[-1] if lines else "")[:600]


def parse_tempest_log(path):
    """caller ('Class:method') -> list of (status, method, url, response body snippet)."""
    reqs: dict[str, list[list]] = {}
    if not os.path.exists(path):
        return reqs
    rec_start = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    records: list[str] = []
    with open(path, errors="replace") as f:
        for line in f:
            if rec_start.match(line) or not records:
                records.append(line)
            else:
                records[-1] += line
    req_re = re.compile(r"Request \(([^)]*)\): (\d{3}) (\w+) (\S+)")
    last = None
    for rec in records:
        m = req_re.search(rec)
        if m and " INFO " in rec:
            caller, status, method, url = m.groups()
            last = [int(status), method, url, ""]
            reqs.setdefault(caller, []).append(last)
            continue
        if last is not None and "Response - Headers" in rec:
            m2 = re.search(r"Response - Headers:.*?\n\s*Body: (.*)", rec, re.S)
            if m2:
                body = re.sub(r"\s*_log_request_full \S+\s*$", "", m2.group(1))
                last[3] = " ".join(body.split())[:400]
            last = None
    return reqs


def class_and_method(test_id):
    base = test_id.split("[", 1)[0]
    m = re.match(r"^(setUpClass|tearDownClass) \((.*)\)$", base)
    if m:
        return m.group(2).rsplit(".", 1)[-1], m.group(1), True
    parts = base.rsplit(".", 2)
    return parts[-2], parts[-1], False


def test_class(test_id):
    """'pkg.mod.Class' of a test id or of a 'setUpClass (pkg.mod.Class)' id."""
    m = re.match(r"^(setUpClass|tearDownClass) \((.*)\)$", test_id)
    if m:
        return m.group(2)
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


def summarise(tests, selected, outdir, tempest_log, header):
    """Account for every selected test: a test of a class whose setUpClass
    was skipped counts as skipped, one whose setUpClass failed as failed."""
    fixtures = {i: t for i, t in tests.items() if re.match(r"^(setUpClass|tearDownClass) \(", i)}
    class_skip = {
        test_class(i): t
        for i, t in fixtures.items()
        if i.startswith("setUpClass") and t["status"] == "skip"
    }
    class_fail = {
        test_class(i): i
        for i, t in fixtures.items()
        if i.startswith("setUpClass") and t["status"] in ("fail", "uxsuccess")
    }
    status, reason = {}, {}
    for i in selected:
        t = tests.get(i)
        cls = test_class(i)
        if t is not None:
            st = t["status"]
            status[i] = (
                "passed"
                if st in ("success", "xfail")
                else "failed"
                if st in ("fail", "uxsuccess")
                else "skipped"
                if st == "skip"
                else "not-run"
            )
            if st == "skip":
                reason[i] = detail_text(t, "reason")
        elif cls in class_skip:
            status[i] = "skipped"
            reason[i] = detail_text(class_skip[cls], "reason")
        elif cls in class_fail:
            status[i] = "failed"
            reason[i] = "class setup failed: " + class_fail[cls]
        else:
            status[i] = "not-run"
    by = {
        k: sorted(i for i in selected if status[i] == k)
        for k in ("passed", "failed", "skipped", "not-run")
    }
    # failure records: failed tests that ran, plus each failed class fixture
    records = sorted(i for i, t in tests.items() if t["status"] in ("fail", "uxsuccess"))
    reqs = parse_tempest_log(tempest_log)

    def write_list(name, items):
        with open(os.path.join(outdir, name), "w") as f:
            for i in items:
                f.write(i + "\n")

    write_list("passed.txt", by["passed"])
    write_list("not-run.txt", by["not-run"])
    with open(os.path.join(outdir, "skipped.txt"), "w") as f:
        for i in by["skipped"]:
            f.write("{}  -- {}\n".format(i, " ".join(reason.get(i, "").split())))
    with open(os.path.join(outdir, "failures.txt"), "w") as f:
        for i in records:
            t = tests[i]
            tb = detail_text(t, "traceback")
            f.write(f"{i}\n    error: {first_error_line(tb)}\n")
            cls, meth, is_fixture = class_and_method(i)
            if is_fixture:
                affected = [x for x in selected if test_class(x) == test_class(i)]
                f.write(f"    ({len(affected)} selected tests of this class did not run)\n")
                callers = [c for c in reqs if c.startswith(cls + ":")]
            else:
                callers = [cls + ":" + meth]
            mine = [r for c in callers for r in reqs.get(c, [])]
            bad = [r for r in mine if r[0] >= 400]
            for st, method, url, body in bad[-5:]:
                f.write(f"    request: {method} {url} -> {st} {body}\n")
            if not bad and mine:
                st, method, url, body = mine[-1]
                f.write(f"    last request: {method} {url} -> {st} {body}\n")
    with open(os.path.join(outdir, "failures-full.txt"), "w") as f:
        for i in records:
            f.write("=" * 78 + f"\n{i}\n" + "-" * 78 + "\n")
            f.write(detail_text(tests[i], "traceback") + "\n")

    # junit: one testcase per selected test, plus failed class fixtures
    suite = ET.Element(
        "testsuite",
        name="tempest",
        tests=str(len(selected)),
        failures=str(len(by["failed"])),
        skipped=str(len(by["skipped"])),
        errors="0",
    )
    for i in sorted(selected) + sorted(x for x in records if x in fixtures):
        t = tests.get(i)
        cls = test_class(i)
        name = i[len(cls) + 1 :] if i.startswith(cls) else i.split(" ", 1)[0]
        dur = 0.0
        if t is not None:
            ts = t.get("timestamps") or [None, None]
            dur = (ts[1] - ts[0]).total_seconds() if ts[0] and ts[1] else 0.0
        tc = ET.SubElement(suite, "testcase", classname=cls, name=name, time=f"{dur:.3f}")
        st = status.get(i, "failed")
        if st == "failed":
            tb = detail_text(t, "traceback") if t is not None else reason.get(i, "")
            ET.SubElement(
                tc, "failure", message=first_error_line(tb) if t is not None else reason.get(i, "")
            ).text = tb
        elif st == "skipped":
            ET.SubElement(tc, "skipped", message=" ".join(reason.get(i, "").split()))
        elif st == "not-run":
            ET.SubElement(tc, "skipped", message="not run")
    ET.ElementTree(suite).write(
        os.path.join(outdir, "junit.xml"), encoding="utf-8", xml_declaration=True
    )

    summary = dict(header)
    summary.update(
        {
            "selected": len(selected),
            "passed": len(by["passed"]),
            "failed": len(by["failed"]),
            "skipped": len(by["skipped"]),
            "not_run": len(by["not-run"]),
            "failed_class_setups": sorted(class_fail.values()),
        }
    )
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary, records


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--service",
        default="identity",
        help="identity|image|compute|network|volume|all, comma separated (default identity)",
    )
    ap.add_argument(
        "--interop",
        action="store_true",
        help="only the interop 2022.11 compute guideline tests (load list), "
        "intersected with --service",
    )
    ap.add_argument(
        "--regex",
        help="raw stestr selection regex (replaces the --service regex; "
        "with --interop it filters the load list)",
    )
    ap.add_argument(
        "--exclude-regex",
        action="append",
        default=[],
        help="exclude tests matching this regex (repeatable); "
        "tools/tempest/exclude.txt "
        "is always applied",
    )
    ap.add_argument(
        "--load-list", default=INTEROP_LIST, help="interop id list (default %(default)s)"
    )
    ap.add_argument("--clouds-yaml", help="use an already running cloud described by this file")
    ap.add_argument("--cloud", default="pocketstack-admin", help="admin cloud name in clouds.yaml")
    ap.add_argument(
        "--pocketstack", help="pocketstack command (default: repo .venv/bin/pocketstack, PATH)"
    )
    ap.add_argument(
        "--output-dir", help="results dir (default ~/.cache/pocketstack/tempest-results/<stamp>)"
    )
    ap.add_argument("--concurrency", type=int, default=2, help="tempest workers (default 2)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.OPTION=VALUE",
        help="override a tempest.conf option (repeatable)",
    )
    ap.add_argument(
        "--cloud-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the pocketstack up we start (repeatable), "
        "e.g. POCKETSTACK_LOG_LEVEL=debug",
    )
    ap.add_argument(
        "--validation",
        action="store_true",
        help="guest validation: Tempest SSHes into the servers through floating IPs with "
        "the key pair ([validation] run_validation=true, metadata_service=true, ...); "
        "the cloud runs the Linux data plane with namespace guests and `public` wired to "
        "this machine (needs root and the data plane's tools)",
    )
    ap.add_argument(
        "--compute-driver",
        choices=guests.DRIVERS,
        help="the guests --validation logs into (default namespace); libvirt boots QEMU VMs "
        "of the guest image (`up --guest-image`) and implies --validation",
    )
    ap.add_argument(
        "--list-only",
        action="store_true",
        help="only count/list the selected tests; no cloud is started",
    )
    ap.add_argument("--startup-timeout", type=int, default=180)
    ap.add_argument("--keep-state", action="store_true", help="keep the cloud's temp state dir")
    args = ap.parse_args()

    services = parse_services(args.service)
    driver = None
    if args.validation or args.compute_driver:
        driver = args.compute_driver or "namespace"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    scratch = None
    if args.output_dir:
        outdir = os.path.abspath(args.output_dir)
    elif args.list_only:
        outdir = scratch = tempfile.mkdtemp(prefix="pocketstack-tempest-list-")
    else:
        outdir = os.path.join(
            os.path.expanduser("~"), ".cache", "pocketstack", "tempest-results", stamp
        )
    os.makedirs(outdir, exist_ok=True)
    for stale in (
        "interop-missing.txt",
        "failures.txt",
        "failures-full.txt",
        "summary.json",
        "junit.xml",
        "results.subunit",
        "not-run.txt",
        "passed.txt",
        "skipped.txt",
    ):
        if os.path.exists(os.path.join(outdir, stale)):
            os.remove(os.path.join(outdir, stale))
    log(f"tempest {tempest_version()}; output dir {outdir}")

    excludes = read_exclude_regexes(EXCLUDE_LIST) + args.exclude_regex
    regex = args.regex if (args.regex and not args.interop) else service_regex(services)

    cloud = None
    rc = 2
    try:
        if args.list_only:
            admin, api, catalog_types = dummy_admin(), None, None
        else:
            if args.clouds_yaml:
                clouds_yaml = os.path.abspath(args.clouds_yaml)
            else:
                pre = render_conf(dummy_admin(), outdir, args.set, validation=driver)
                cloud = Cloud(
                    find_pocketstack(args.pocketstack),
                    outdir,
                    args.startup_timeout,
                    args.keep_state,
                    env=cloud_env_for(pre, args.cloud_env, driver or "namespace"),
                )
                clouds_yaml = cloud.start()
            shutil.copy(clouds_yaml, os.path.join(outdir, "clouds.yaml"))
            admin = load_admin_cloud(clouds_yaml, args.cloud)
            api = Api(admin)
            api.login()
            catalog_types = {s.get("type") for s in api.catalog}
            types = ", ".join(sorted(t for t in catalog_types if t))
            log(f"catalog service types: {types}")

        ws = init_workspace(outdir)
        conf = render_conf(admin, ws, args.set, api=api, catalog_types=catalog_types,
                           validation=driver)
        conf_path = os.path.join(ws, "etc", "tempest.conf")
        write_conf(conf, conf_path)
        shutil.copy(conf_path, os.path.join(outdir, "tempest.conf"))
        for s in services:
            opt = SERVICES[s][1]
            if opt and conf.get("service_available", opt, fallback="false").lower() != "true":
                log(
                    f"WARNING: [service_available] {opt} = false: {s} tests will all be skipped "
                    f"(flip it in tools/tempest/tempest.conf.in or "
                    f"--set service_available.{opt}=true)"
                )

        selected = list_tests(ws, regex, excludes)
        if args.interop:
            wanted = read_id_list(args.load_list)
            # Match on the test path without the [id-...,tags] suffix: tags
            # change between tempest releases (e.g. 'slow' was dropped from
            # test_attach_detach_volume), the path does not.
            avail = {i.split("[", 1)[0]: i for i in selected}
            rx = re.compile(args.regex) if args.regex else None
            in_service = [
                i
                for i in wanted
                if re.match(service_regex(services), i) and (rx is None or rx.search(i))
            ]
            missing = [i for i in in_service if i.split("[", 1)[0] not in avail]
            selected = [
                avail[i.split("[", 1)[0]] for i in in_service if i.split("[", 1)[0] in avail
            ]
            if missing:
                miss = os.path.join(outdir, "interop-missing.txt")
                log(
                    f"WARNING: {len(missing)} interop ids not found in this tempest "
                    f"(or excluded): see {miss}"
                )
                with open(os.path.join(outdir, "interop-missing.txt"), "w") as f:
                    f.write("\n".join(missing) + "\n")
        load_list = os.path.join(outdir, "selected.load-list")
        with open(load_list, "w") as f:
            f.write("\n".join(selected) + ("\n" if selected else ""))
        desc = "services={}{}{}{}".format(
            ",".join(services),
            " interop" if args.interop else "",
            f" validation({driver})" if driver else "",
            (f" regex={args.regex}") if args.regex else "",
        )
        log(f"selection ({desc}): {len(selected)} tests -> {load_list}")
        if args.list_only:
            for i in sorted(selected):
                print(i)
            print(f"{len(selected)} tests selected")
            return 0
        if not selected:
            die("selection is empty")

        t0 = time.time()
        trc, sub = run_tempest(ws, load_list, max(1, args.concurrency), outdir)
        tests = parse_subunit(sub)
        header = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "tempest_version": tempest_version(),
            "selection": desc,
            "duration_s": round(time.time() - t0, 1),
            "tempest_rc": trc,
        }
        summary, failed = summarise(
            tests, selected, outdir, os.path.join(ws, "logs", "tempest.log"), header
        )
        if os.path.exists(os.path.join(ws, "logs", "tempest.log")):
            shutil.copy(
                os.path.join(ws, "logs", "tempest.log"), os.path.join(outdir, "tempest.log")
            )
        print()
        print("Tempest {}, {}, {} s".format(header["tempest_version"], desc, header["duration_s"]))
        if failed:
            print(f"Failures (first error line; requests that got >=400 in {outdir}/failures.txt):")
            for i in failed:
                err = first_error_line(detail_text(tests[i], "traceback"))[:300]
                print(f"  FAIL {i}\n       {err}")
        if summary["failed_class_setups"]:
            n = len(summary["failed_class_setups"])
            print(f"{n} failed class setups; their tests count as failed")
        if summary["not_run"]:
            print(f"{summary['not_run']} selected tests did not run at all: {outdir}/not-run.txt")
        print(
            f"Results in {outdir} (summary.json, failures.txt, junit.xml, "
            "results.subunit, tempest.log)"
        )
        # The plain closing line CI and humans read.
        print(
            f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
        )
        rc = (
            0
            if (
                not failed
                and not summary["failed"]
                and not summary["not_run"]
                and summary["passed"] + summary["skipped"] > 0
                and trc == 0
            )
            else 1
        )
        return rc
    finally:
        for child in CHILDREN:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        if cloud:
            cloud.stop()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _sigterm(signum, frame):
    # Turn SIGTERM/SIGHUP into an exception so main()'s finally stops the cloud.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGHUP, _sigterm)
    sys.exit(main())
