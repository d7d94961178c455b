"""What a Tempest run's results say, written to the output directory and printed.

:func:`parse_subunit` reads the run's subunit stream; :func:`summarise` accounts for every
selected test (a test whose class setup was skipped or failed counts so), and writes
passed.txt, skipped.txt (with reasons), not-run.txt, failures.txt (each failure's error line
and the requests that got >= 400, from tempest.log), failures-full.txt, junit.xml and
summary.json; :func:`report` prints the closing summary and gives the exit code.
"""

import json
import os
import re
import xml.etree.ElementTree as ET

#: what a run writes, removed first so that none of an earlier run's is left
RESULT_FILES = (
    "interop-missing.txt",
    "failures.txt",
    "failures-full.txt",
    "summary.json",
    "junit.xml",
    "results.subunit",
    "not-run.txt",
    "passed.txt",
    "skipped.txt",
)


def clear_results(outdir):
    """Remove an earlier run's results from ``outdir``."""
    for stale in RESULT_FILES:
        if os.path.exists(os.path.join(outdir, stale)):
            os.remove(os.path.join(outdir, stale))


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


def report(summary, failed, tests, header, desc, outdir, trc):
    """Print the run's summary; the exit code: 0 when every selected test passed or was
    skipped (at least one) and Tempest exited 0, else 1."""
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
        f"Results in {outdir} (summary.json, failures.txt, junit.xml, results.subunit, tempest.log)"
    )
    # The plain closing line CI and humans read.
    print(f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped")
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
