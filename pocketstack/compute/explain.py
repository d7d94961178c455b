"""``pocketstack explain server ID``: every scheduling decision made for a server, host by host.

An operator tool, like nova-manage: it reads the database the cloud uses (``--state-dir`` or
``--database-url``), so it works even when the API is down.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pocketstack.common.db import Database
from pocketstack.compute.domain import instances, states
from pocketstack.config import Settings


def render(row: dict[str, Any], records: list[dict[str, Any]]) -> str:
    lines = [f"server {row['uuid']} ({row['display_name']}): "
             f"{states.status(row['vm_state'], row['task_state'])}"
             + (f" on {row['host']}" if row["host"] else "")]
    flavor = row["flavor"]
    lines.append(f"  flavor {flavor['name']}: {flavor['vcpus']} vCPU, {flavor['ram']} MB RAM, "
                 f"{flavor['disk']} GB disk")
    if not records:
        lines.append("  no scheduling decision recorded yet")
    for rec in records:
        data = rec["record"]
        chosen = rec["chosen_host"] or "no host"
        seconds = data.get("seconds")
        took = f" in {seconds * 1000:.1f} ms" if seconds else ""
        lines.append(f"  attempt {rec['attempt']} at {rec['created_at']:%Y-%m-%d %H:%M:%S}: "
                     f"chose {chosen}{took}")
        for host, verdict in sorted(data.get("hosts", {}).items()):
            if verdict["result"] == "passed":
                weights = ", ".join(f"{k} {v:.2f}" for k, v in verdict["weights"].items())
                lines.append(f"    {host}: passed, weight {verdict['weight']:.3f} ({weights})")
            else:
                lines.append(f"    {host}: rejected by {verdict['stage']}: {verdict['reason']}")
        if data.get("failure"):
            lines.append(f"    then the spawn on {chosen} failed: {data['failure']}")
    if row["fault"]:
        lines.append("  fault: " + row["fault"]["message"].replace("\n", "\n         "))
    return "\n".join(lines)


def explain_server(settings: Settings, server_id: str, as_json: bool = False) -> int:
    db = Database(settings.effective_database_url)
    try:
        try:
            row = db.read(instances.get, server_id, True)
        except Exception as exc:  # NotFound or a database that is not there
            print(f"pocketstack: {exc}", file=sys.stderr)
            return 1
        records = db.read(instances.scheduling_records, server_id)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps([{"attempt": r["attempt"], "chosen_host": r["chosen_host"],
                           "record": r["record"]} for r in records], indent=2, default=str))
    else:
        print(render(row, records))
    return 0
