"""Serve one OpenStack WSGI application with gunicorn, configured in code.

usage: python -m scs_localcloud_plugins.wsgi MODULE:ATTR HOST:PORT [-- OSLO-ARGS...]

gunicorn's own command line must not reach the application: the OpenStack apps parse
sys.argv with oslo.config at import time and a worker that sees `-b 127.0.0.1:5000` dies and
is restarted in a loop. So the launcher takes its two arguments, then leaves sys.argv holding
only the program name and whatever follows `--` (e.g. `--config-file X`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):
    def __init__(self, target: str, bind: str) -> None:
        self._target = target
        self._bind = bind
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", self._bind)
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", 8)
        self.cfg.set("timeout", 300)
        # longer than any client's poll interval: with gunicorn's 2 s default, clients polling
        # every 2 s (openstacksdk wait_for_*) reuse a connection the server is just closing
        self.cfg.set("keepalive", 75)
        self.cfg.set("proc_name", self._target.split(":", 1)[0])

    def load(self) -> Any:
        module, attr = self._target.split(":", 1)
        return getattr(importlib.import_module(module), attr)


def main(argv: list[str]) -> None:
    """Start gunicorn for `MODULE:ATTR` on `HOST:PORT`; arguments after `--` go to the app."""
    if len(argv) < 2:
        raise SystemExit(__doc__)
    target, bind = argv[0], argv[1]
    app_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    sys.argv = [target.split(":", 1)[0], *app_args]
    _Server(target, bind).run()


if __name__ == "__main__":
    main(sys.argv[1:])
