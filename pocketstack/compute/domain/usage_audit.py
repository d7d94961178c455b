"""The instance usage audit log (``os-instance_usage_audit_log``): per audit period, which
compute hosts have run their usage audit.

Compute hosts here do not run the periodic usage audit (Nova's ``instance_usage_audit``, off by
default there too), so no host has an audit log for any period: every compute host is reported
as not run, with no instances and no errors — what Nova answers with the audit disabled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.compute.domain import services
from pocketstack.compute.domain.common import utcnow


def _month_before(day: dt.datetime) -> dt.datetime:
    if day.month == 1:
        return day.replace(year=day.year - 1, month=12)
    return day.replace(month=day.month - 1)


def last_completed_period(before: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The monthly audit period most recently completed before ``before`` (default: now)."""
    now = before or utcnow()
    end = dt.datetime(now.year, now.month, 1)
    if end >= now:
        end = _month_before(end)
    return _month_before(end), end


def task_logs(conn: Connection, before: dt.datetime | None = None) -> dict[str, Any]:
    """The audit summary of the period completed before ``before``: every compute host (the
    disabled ones too, which may still hold instances) has not run its audit."""
    begin, end = last_completed_period(before)
    hosts = sorted({s["host"] for s in services.list_(conn, "nova-compute")})
    done_text = "ALL" if not hosts else f"0 of {len(hosts)}"
    return {
        "period_beginning": str(begin), "period_ending": str(end),
        "num_hosts": len(hosts), "num_hosts_done": 0, "num_hosts_running": 0,
        "num_hosts_not_run": len(hosts), "hosts_not_run": hosts,
        "total_instances": 0, "total_errors": 0,
        "overall_status": f"{done_text} hosts done. 0 errors.", "log": {},
    }
