"""The identity benchmark's report: the text table (:func:`report`) of both targets' cold
starts, latencies, throughput and CPU per request, and the verdict on the project's
targets (:func:`evaluate`).
"""

from __future__ import annotations

from benchmarks.identity_measure import OP_LABEL, OPS, fmt


def report(result: dict) -> str:
    ps, ks = result.get("pocketstack"), result.get("keystone")
    conc_list = result["config"]["concurrency"]
    lines = []
    w = lines.append
    w(
        f"Identity benchmark — {result['date']} — {result['machine']['cpus']} CPUs "
        f"({result['machine']['cpu_model']}), Python {result['machine']['python']}"
    )
    if ks:
        w(
            f"Peer: Keystone {ks.get('version')} (gunicorn {ks.get('workers')} sync workers, "
            "SQLite, fernet, memcached)"
        )
    w("")
    w("Cold start to ready (median; s)")
    w("| target | first start (fresh state) | restart (existing state) |")
    w("|---|---|---|")
    for t in (ps, ks):
        if t and t.get("cold_start"):
            cs = t["cold_start"]
            first = fmt(cs.get("first_median_s"), 3)
            if t["name"] == "keystone" and cs.get("fresh_setup_s") is not None:
                first += f" (manage {cs['fresh_setup_s']:.2f} + serve {cs['fresh_serve_s']:.2f})"
            w(
                f"| {t['name']} | {first} | {fmt(cs.get('restart_median_s'), 3)} "
                f"(runs: {', '.join(fmt(x, 3) for x in cs.get('restart_s', []))}) |"
            )
    w("")
    w(
        "Requests (latency in ms, client-side, keep-alive httpx; "
        "CPU = server process tree CPU per request)"
    )
    w("| operation | c | target | p50 | p95 | req/s | server CPU ms/req | ok/n |")
    w("|---|---|---|---|---|---|---|---|")
    for op in OPS:
        for conc in conc_list:
            for t in (ps, ks):
                if not t or str(conc) not in t.get("ops", {}).get(op, {}):
                    continue
                r = t["ops"][op][str(conc)]
                w(
                    f"| {OP_LABEL[op]} | {conc} | {t['name']} | {fmt(r['p50_ms'])} | "
                    f"{fmt(r['p95_ms'])} | "
                    f"{fmt(r['rps'], 1)} | {fmt(r['server_cpu_ms_per_req'])} | {r['ok']}/{r['n']} |"
                )
    if ps and ks and "ops" in ps and "ops" in ks:
        w("")
        w("Ratios Pocketstack/Keystone (p50: lower is better; req/s: higher is better)")
        w(
            "| operation | c | p50 PS/KS | speed-up (KS p50 / PS p50) | req/s PS/KS "
            "| server CPU/req KS/PS |"
        )
        w("|---|---|---|---|---|---|")
        for op in OPS:
            for conc in conc_list:
                if str(conc) not in ps["ops"].get(op, {}) or str(conc) not in ks["ops"].get(op, {}):
                    continue
                a_, b_ = ps["ops"][op][str(conc)], ks["ops"][op][str(conc)]
                ca, cb = a_["server_cpu_ms_per_req"], b_["server_cpu_ms_per_req"]
                cpu_ratio = fmt(cb / ca, 1) + "×" if (ca and cb) else "-"
                w(
                    f"| {OP_LABEL[op]} | {conc} | {fmt(a_['p50_ms'] / b_['p50_ms'], 3)} | "
                    f"{fmt(b_['p50_ms'] / a_['p50_ms'], 1)}× | {fmt(a_['rps'] / b_['rps'], 2)} "
                    f"| {cpu_ratio} |"
                )
    fl = result.get("client_floor") or {}
    if fl:
        w("")
        w(
            "Client floor (same httpx rig against a canned-response asyncio server): "
            + ", ".join(
                f"c={c}: p50 {fmt(r['p50_ms'], 3)} ms, {fmt(r['rps'], 0)} req/s"
                for c, r in fl.items()
            )
        )
    bc = result["bcrypt"]
    w("")
    w(
        f"bcrypt.checkpw at {bc['rounds']} rounds in-process: "
        f"median {fmt(bc.get('median_ms'), 1)} ms wall, {fmt(bc.get('cpu_median_ms'), 1)} ms CPU "
        f"(min {fmt(bc.get('min_ms'), 1)}, max {fmt(bc.get('max_ms'), 1)})"
    )
    for t in (ps, ks):
        if t and "beyond_hash" in t:
            b = t["beyond_hash"]
            w(
                f"{t['name']}: stored bcrypt cost {t.get('hash_rounds')}; issue beyond the hash: "
                f"server CPU {fmt(b['cpu_ms'])} ms/req, latency p50 {fmt(b['latency_ms'])} ms "
                f"(minus the version-doc floor: {fmt(b['latency_minus_floor_ms'])} ms)"
            )
    for t in (ps, ks):
        if t and t.get("info"):
            i = t["info"]
            w(
                f"{t['name']}: token {i['token_bytes']} bytes, roles {i['roles']}, catalog "
                f"{i['catalog_entries']} services, validate body {i['validate_bytes']} bytes, "
                f"{i['projects_count']} project(s) listed"
            )
    if result.get("loadavg_before_load"):
        la0, la1 = result["loadavg_before_load"], result.get("loadavg_after_load") or ["?"]
        w(f"load average (1 min) before the load phase {la0[0]:.2f}, after {la1[0]:.2f}")
    if ks and ks.get("memcached"):
        w(f"keystone memcached during the load phase: {ks['memcached']}")
    if result.get("targets"):
        w("")
        w("Targets")
        for name, (ok, detail) in result["targets"].items():
            w(f"- {'PASS' if ok else ('FAIL' if ok is False else 'n/a ')} {name}: {detail}")
    return "\n".join(lines)


def evaluate(result: dict) -> dict:
    ps, ks, bc = result.get("pocketstack"), result.get("keystone"), result["bcrypt"]
    for t in (ps, ks):
        if not t or "ops" not in t:
            continue
        iss = t["ops"]["issue"]["1"]
        ver = t["ops"]["version"]["1"]
        bms = bc.get("median_ms") or 0
        # the hash's CPU cost measured right before this target's issue point (same load)
        bcpu = (iss.get("bcrypt_nearby") or bc).get("cpu_median_ms") or bms
        t["beyond_hash"] = {
            "cpu_ms": (iss["server_cpu_ms_per_req"] - bcpu)
            if iss["server_cpu_ms_per_req"] is not None
            else None,
            "latency_ms": iss["p50_ms"] - bms,
            "latency_minus_floor_ms": iss["p50_ms"] - bms - ver["p50_ms"],
            "bcrypt_cpu_ms": bcpu,
        }
    tg = {}
    if ps and "ops" in ps:
        rounds = ps.get("hash_rounds")
        ks_rounds = ks.get("hash_rounds") if ks else None
        same = bool(rounds) and rounds == [12] and (ks_rounds in (None, [12]))
        tg["same hash strength (bcrypt 12)"] = (
            same if rounds else None,
            f"pocketstack stores cost {rounds or 'not found in state dir'}"
            + (f", keystone {ks_rounds}" if ks else "")
            + f"; server CPU per issue {fmt(ps['ops']['issue']['1']['server_cpu_ms_per_req'], 1)}"
            + f" ms vs checkpw CPU {fmt(ps['beyond_hash']['bcrypt_cpu_ms'], 1)} ms",
        )
        b = ps["beyond_hash"]
        # Judged on the server's CPU per issue beyond the hash (robust to background load);
        # the client-side p50 beyond the hash and the HTTP floor is shown beside it (it would
        # also show I/O or lock waits, but moves by several ms with other work on the machine).
        primary = b["cpu_ms"] if b["cpu_ms"] is not None else b["latency_minus_floor_ms"]
        tg["issue time beyond the hash < 5 ms"] = (
            (primary < 5) if primary > -3 else None,  # well below 0: the measurement is off
            f"server CPU beyond checkpw {fmt(b['cpu_ms'])} ms (checkpw CPU "
            f"{fmt(b['bcrypt_cpu_ms'], 1)} ms measured just before); client p50 beyond checkpw "
            f"{fmt(b['latency_ms'])} ms (incl. HTTP+client; {fmt(b['latency_minus_floor_ms'])} ms "
            f"after subtracting the version-doc floor)",
        )
        if ks and "ops" in ks:
            floor = result.get("client_floor") or {}
            for op in ("validate", "projects"):
                parts, oks = [], []
                for conc in result["config"]["concurrency"]:
                    a_, b_ = ps["ops"][op][str(conc)], ks["ops"][op][str(conc)]
                    sp, rr = b_["p50_ms"] / a_["p50_ms"], a_["rps"] / b_["rps"]
                    ca, cb = a_["server_cpu_ms_per_req"], b_["server_cpu_ms_per_req"]
                    cr = (cb / ca) if (ca and cb) else None
                    # When Pocketstack already runs at >= 80 % of what this client rig can drive
                    # against a canned response, latency and req/s measure the rig, not the
                    # server: judge by server CPU per request then.
                    fl = floor.get(str(conc))
                    rig_bound = bool(fl) and a_["rps"] >= 0.8 * fl["rps"]
                    if rig_bound and cr is not None:
                        oks.append(cr >= 10)
                    else:
                        oks += [sp >= 10, rr >= 10]
                    oks.append(a_["ok"] == a_["n"])
                    if a_["ok"] != a_["n"]:
                        parts.append(f"c={conc}: only {a_['ok']}/{a_['n']} answered 2xx")
                    parts.append(
                        f"c={conc}: p50 {sp:.1f}×, req/s {rr:.1f}×, server CPU/req "
                        + (f"{cr:.1f}×" if cr is not None else "-")
                        + (" (client-rig bound: judged by CPU)" if rig_bound else "")
                    )
                first_a = ps["ops"].get("validate_first", {}).get("1")
                first_b = ks["ops"].get("validate_first", {}).get("1")
                if op == "validate" and first_a and first_b:
                    parts.append(
                        f"first validation of a new token (not judged): p50 "
                        f"{first_b['p50_ms'] / first_a['p50_ms']:.1f}×"
                    )
                tg[f"{OP_LABEL[op]} >= 10x faster than Keystone"] = (all(oks), "; ".join(parts))
        cs = ps.get("cold_start")
        if cs:
            tg["cold start < 2 s"] = (
                max(cs["first_median_s"], cs["restart_median_s"]) < 2,
                f"first start median {cs['first_median_s']:.3f} s (max {max(cs['first_s']):.3f}), "
                f"restart median {cs['restart_median_s']:.3f} s (max {max(cs['restart_s']):.3f})",
            )
    result["targets"] = tg
    return result
