"""The console entry point: `scs-testbed --version` answers before the Typer application (and
every command module it registers) is loaded; everything else goes to `application.main`."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # the same line the application's --version prints
        from scs_testbed import __version__

        sys.stdout.write(f"scs-testbed {__version__}\n")
        sys.stdout.flush()
        sys.exit(0)
    from scs_testbed.cli.application import main as run

    run()
