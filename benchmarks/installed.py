"""Run this checkout's CLI as an installed copy runs: with its bytecode compiled once and kept.

`pip install .` compiles every module to bytecode at install time, so an installed
scs-testbed starts from `.pyc` files like typer and rich do. A checkout run through PYTHONPATH
with PYTHONDONTWRITEBYTECODE set (as on the CI machines) compiles each of its modules from
source on every start, which would charge the start-up figures for work a user never sees.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def as_installed(env: dict[str, str]) -> dict[str, str]:
    """`env` with bytecode written once (to a cache of its own, not into the checkout) and
    reused; the first run of a command fills it, so benchmarks start with an untimed one."""
    prefix = Path(tempfile.gettempdir()) / f"scs-testbed-bench-pycache-{os.getuid()}"
    prefix.mkdir(mode=0o700, exist_ok=True)
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    return env
