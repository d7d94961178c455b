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

This file holds the options, the tempest.conf rendering and the run's steps
(main); the steps' parts are in harness.py, cloud.py, workspace.py,
selection.py and results.py next to it.
"""

import argparse
import configparser
import datetime
import os
import re
import shutil
import signal
import string
import sys
import tempfile
import time

import guests  # tools/tempest/guests.py: the guests Tempest logs into (--validation)
from cloud import Api, Cloud, find_pocketstack, load_admin_cloud, prepare_compute_refs
from harness import die, log
from results import clear_results, parse_subunit, report, summarise
from selection import interop_selection, list_tests, read_exclude_regexes
from workspace import init_workspace, run_tempest, stop_children, tempest_version

HERE = os.path.dirname(os.path.abspath(__file__))
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
    clear_results(outdir)
    log(f"tempest {tempest_version()}; output dir {outdir}")

    excludes = read_exclude_regexes(EXCLUDE_LIST) + args.exclude_regex
    regex = args.regex if (args.regex and not args.interop) else service_regex(services)

    cloud = None
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
            selected = interop_selection(
                selected, args.load_list, args.regex, service_regex(services), outdir
            )
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
        return report(summary, failed, tests, header, desc, outdir, trc)
    finally:
        stop_children()
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
