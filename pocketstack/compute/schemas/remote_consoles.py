"""Request bodies of the remote console APIs, as Nova validates them."""

from __future__ import annotations

from typing import Any


def _action(name: str, types: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {
        "type": "object", "properties": {"type": {"type": "string", "enum": types}},
        "required": ["type"], "additionalProperties": False}},
        "required": [name], "additionalProperties": False}


GET_VNC_CONSOLE = _action("os-getVNCConsole", ["novnc", "xvpvnc"])
GET_SPICE_CONSOLE = _action("os-getSPICEConsole", ["spice-html5"])
GET_SERIAL_CONSOLE = _action("os-getSerialConsole", ["serial"])


def _create(protocols: list[str], types: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {"remote_console": {
        "type": "object", "properties": {
            "protocol": {"type": "string", "enum": protocols},
            "type": {"type": "string", "enum": types}},
        "required": ["protocol", "type"], "additionalProperties": False}},
        "required": ["remote_console"], "additionalProperties": False}


CREATE_V26 = _create(["vnc", "spice", "serial"], ["novnc", "xvpvnc", "spice-html5", "serial"])
CREATE_V28 = _create(["vnc", "spice", "serial", "mks"],
                     ["novnc", "xvpvnc", "spice-html5", "serial", "webmks"])
