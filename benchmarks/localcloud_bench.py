#!/usr/bin/env python3
"""Local cloud figures: install (target <= 5 min), `up` (<= 120 s), RSS (<= 3 GB), `down` (<= 30 s).

Default: RSS of the running cloud, `down`, `up` from stopped (data kept), RSS again.
--fresh: `down --purge` first, so `up` also initialises every database (installed state).
--from-nothing: also remove the venv and apt-purge MariaDB/RabbitMQ (+ autoremove), then
time the install with pip's cache disabled. Destructive; for throw-away machines and CI.
The cloud is left running in every mode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

from scs_testbed import localcloud
from scs_testbed.localcloud import install

TARGETS = {"install": 300.0, "up": 120.0, "rss": 3.0, "down": 30.0}


def figure(name: str, value: float, unit: str, target_key: str) -> None:
    target = TARGETS[target_key]
    verdict = "ok" if value <= target else "OVER TARGET"
    print(f"{name:<38} {value:8.1f} {unit:<4} (target <= {target:g} {unit}) {verdict}", flush=True)


def rss_gib() -> float:
    return sum(row.rss_bytes for row in localcloud.status()) / 2**30


def timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def quiet(_message: str) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--from-nothing", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("skipped: the local cloud needs root")
        return
    layout = localcloud.Layout.default()
    if args.from_nothing:
        localcloud.down(purge=True)
        shutil.rmtree(layout.venv, ignore_errors=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "purge", "-y", "-q", *install.APT_PACKAGES],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["apt-get", "autoremove", "--purge", "-y", "-q"],
            env=env,
            check=True,
            capture_output=True,
        )
        os.environ["PIP_NO_CACHE_DIR"] = "1"
        layout.create()
        apt = timed(install.install_apt_packages)
        venv = timed(lambda: install.install_venv(layout))
        print(f"{'  apt-get (MariaDB, RabbitMQ)':<38} {apt:8.1f} s")
        print(f"{'  venv (pip, no cache)':<38} {venv:8.1f} s")
        figure("install from nothing", apt + venv, "s", "install")
    elif args.fresh:
        localcloud.down(purge=True)
    if localcloud.is_running():
        figure("RSS of the running cloud", rss_gib(), "GiB", "rss")
    else:
        first = timed(lambda: localcloud.up(progress=quiet))
        label = "up, fresh data (installed)" if args.fresh or args.from_nothing else "up"
        figure(label, first, "s", "up")
        figure("RSS right after up", rss_gib(), "GiB", "rss")
    figure("down", timed(lambda: localcloud.down()), "s", "down")
    figure("up from stopped (data kept)", timed(lambda: localcloud.up(progress=quiet)), "s", "up")
    figure("RSS after restart", rss_gib(), "GiB", "rss")


if __name__ == "__main__":
    sys.exit(main())
