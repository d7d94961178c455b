"""Small helpers shared by the benchmark scripts: ports, readiness polling, process-tree CPU."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """Status of GET url (loopback only), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:  # 3xx/4xx/5xx still mean "a server answered"
        return e.code
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError):
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):  # keep 300/301/302 visible to the caller
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http_status_noredirect(url: str, timeout: float = 1.0) -> int | None:
    try:
        with _opener.open(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError):
        return None


def wait_status(
    url: str,
    want: set[int],
    deadline_s: float,
    proc: subprocess.Popen | None = None,
    interval: float = 0.005,
) -> float:
    """Poll url until its status is in want; return seconds waited. Raises on timeout/exit."""
    t0 = time.perf_counter()
    end = t0 + deadline_s
    while True:
        st = http_status_noredirect(url, timeout=0.5)
        if st in want:
            return time.perf_counter() - t0
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} before {url} answered {want}"
            )
        if time.perf_counter() > end:
            raise TimeoutError(f"{url} did not answer {want} within {deadline_s}s (last: {st})")
        time.sleep(interval)


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    seen, stack = [], [pid]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.append(p)
        stack.extend(_children(p))
    return seen


def _stat_ticks(p: int) -> int:
    with open(f"/proc/{p}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def _sched_ns(p: int, into: dict[int, int]) -> None:
    for tid in os.listdir(f"/proc/{p}/task"):
        try:
            with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                into[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass


def tree_cpu_sample(pid: int) -> tuple[int, dict[int, int]]:
    """(clock ticks incl. dead threads and reaped children, {tid: ns run} of live threads)."""
    ticks, per_thread = 0, {}
    for p in process_tree(pid):
        try:
            ticks += _stat_ticks(p)
            _sched_ns(p, per_thread)
        except (OSError, IndexError, ValueError):
            pass
    return ticks, per_thread


def cpu_delta_seconds(a: tuple[int, dict[int, int]], b: tuple[int, dict[int, int]]) -> float:
    """CPU used between two samples: the ns-precise per-thread sum when no thread ended in
    between, else the tick-based (10 ms resolution) process figure, which keeps dead threads."""
    if set(a[1]) - set(b[1]):
        return (b[0] - a[0]) / CLK_TCK
    return sum(ns - a[1].get(tid, 0) for tid, ns in b[1].items()) / 1e9


def tree_cpu_seconds(pid: int) -> float:
    """user+system CPU of pid and its live descendants (plus reaped children's), in seconds."""
    return tree_cpu_sample(pid)[0] / CLK_TCK


def stop_group(proc: subprocess.Popen, first=signal.SIGINT, grace: float = 10.0) -> None:
    """Stop a process started with start_new_session=True, and its group (only what we started)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((first, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
