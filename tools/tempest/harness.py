"""How the Tempest harness talks to its user: progress lines and fatal errors.

Every module of tools/tempest prints through :func:`log` (``[tempest-harness] ...``) and stops
the run through :func:`die`, whose ``SystemExit`` lets run.py's ``main()`` stop the cloud.
"""

import sys
from typing import NoReturn


def log(msg):
    print(f"[tempest-harness] {msg}", flush=True)


def die(msg, code=2) -> NoReturn:
    log("ERROR: " + msg)
    sys.exit(code)
