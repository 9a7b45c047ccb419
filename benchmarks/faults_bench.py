#!/usr/bin/env python3
"""deploy + destroy of the built-in `local` testbed through the fault injector, per fault rate.

For each rate (0%, 5%, 10%, 20%; 20 runs at 10%, 5 at the others, or --runs N for all) a fresh
`faultproxy` (own ports, seed = run number) stands in front of the local cloud; `deploy` must end
deployed (exit 0) or with exit 4 and its state kept, then `destroy` (through the same faults)
must leave nothing the cloud's API shows with the testbed's names. Then the cloud gone for 30 s
in the middle of an apply and of a destroy. Prints the table and the time overhead against 0%.
Skipped (exit 0, with the reason) when the local cloud is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from tempfile import mkdtemp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tools import faultrun

RUNS = {0.0: 5, 0.05: 5, 0.1: 20, 0.2: 5}


def state_kept(env: dict[str, str], name: str) -> bool:
    """The failed testbed is still recorded with resources in its Terraform state."""
    state = Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / name / "terraform.tfstate"
    try:
        return bool(json.loads(state.read_text()).get("resources"))
    except (OSError, ValueError):
        return False


PORTS = {"port_offset": faultrun.PORT_OFFSET, "admin_port": faultrun.ADMIN_PORT}


def one_run(base: Path, name: str, rate: float, seed: int, outage: str | None = None) -> dict:
    """deploy, then destroy, through one proxy; what happened, timed."""
    conn = faultrun.direct_connection()
    row: dict = {"name": name, "rate": rate, "seed": seed}
    with faultrun.fault_proxy(base / name / "proxy", rate, seed, **PORTS) as proxy:
        env = faultrun.user_env(proxy.clouds, base / name / "user")
        for _ in range(60):  # the cloud is shared: a preflight without room is no result
            faultrun.wait_for_room(env, name)
            before = len(proxy.records())
            trigger = _outage_when(proxy, "POST", before) if outage == "apply" else None
            started = time.monotonic()
            deployed = faultrun.cli(env, "deploy", "-e", "local", "--name", name, "--nodes", "3")
            if "cannot hold this testbed" not in deployed.stderr:
                break
            row["no_room"] = row.get("no_room", 0) + 1
        row["deploy_s"] = time.monotonic() - started
        row["deploy_exit"] = deployed.returncode
        row["kept"] = deployed.returncode == 4 and state_kept(env, name)
        row["retries"] = len(faultrun.retry_lines(deployed.stdout + deployed.stderr))
        if trigger:
            trigger.join(1)
        if outage == "destroy":
            trigger = _outage_when(proxy, "DELETE", len(proxy.records()))
        started = time.monotonic()
        destroyed = faultrun.cli(env, "destroy", name, "--yes")
        row["destroy_s"] = time.monotonic() - started
        row["destroy_exit"] = destroyed.returncode
        row["retries"] += len(faultrun.retry_lines(destroyed.stdout + destroyed.stderr))
        row["faults"] = proxy.faults()
        row["leftovers"] = faultrun.leftovers(conn, name)
        if destroyed.returncode != 0 or deployed.returncode not in (0, 4):
            row["tail"] = (deployed.stderr + destroyed.stderr)[-1500:]
    if row["leftovers"]:  # never leave them on the shared cloud
        clean = faultrun.user_env(faultrun.localcloud_dir() / "clouds.yaml", base / name / "user")
        faultrun.cli(clean, "destroy", name, "--yes", "--force-cleanup")
    return row


def _outage_when(proxy: faultrun.Proxy, method: str, after: int) -> threading.Thread:
    """The cloud gone for 30 s as soon as the first create (POST) or delete of the run passed."""

    def watch() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if any(
                r["method"] == method and r["service"] in ("compute", "network")
                for r in proxy.records()[after:]
            ):
                proxy.outage(30, "refuse")
                return
            time.sleep(0.5)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, help="runs per rate (default: 20 at 10%%, 5 else)")
    parser.add_argument("--runs-10", type=int, help="runs at 10%% (wins over --runs there)")
    parser.add_argument(
        "--rates", default="0,0.05,0.1,0.2", help="comma list of fault rates ('': outages only)"
    )
    parser.add_argument("--no-outages", action="store_true", help="skip the 30 s outages")
    parser.add_argument(
        "--first-run", type=int, default=0, help="number of the first run (its seed is one more)"
    )
    parser.add_argument("--port-offset", type=int, default=faultrun.PORT_OFFSET)
    parser.add_argument("--admin-port", type=int, default=faultrun.ADMIN_PORT)
    args, _ = parser.parse_known_args()
    PORTS.update(port_offset=args.port_offset, admin_port=args.admin_port)
    parser.add_argument("--from-rows", type=Path, help="print the table of a run's JSON lines")
    args, _ = parser.parse_known_args()
    if args.from_rows:  # rows whose deploy found no room on the shared cloud are no result
        rows = [
            json.loads(line) for line in args.from_rows.read_text().splitlines() if line[:1] == "{"
        ]
        outages = [(r["name"].rsplit("-", 1)[1], r) for r in rows if "-out-" in r["name"]]
        rows = [r for r in rows if "-out-" not in r["name"] and r["deploy_exit"] != 3]
        print_table(rows, outages)
        return 0
    absent = faultrun.cloud_absent()
    if absent:
        print(f"SKIPPED: {absent}")
        return 0
    base = Path(mkdtemp(prefix="faults-bench-"))
    tag = f"{os.getpid() % 1000:03d}"
    rows: list[dict] = []
    for rate in [float(r) for r in args.rates.split(",") if r.strip()]:  # "": outages only
        count = args.runs_10 if rate == 0.1 and args.runs_10 else args.runs or RUNS.get(rate, 5)
        for run in range(args.first_run, args.first_run + count):
            row = one_run(base, f"fb{tag}-{int(rate * 100)}-{run}", rate, seed=run + 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    outages = []
    if not args.no_outages:
        for where in ("apply", "destroy"):
            row = one_run(base, f"fb{tag}-out-{where}", 0.0, 1, outage=where)
            outages.append((where, row))
            print(json.dumps(row), flush=True)
    print_table(rows, outages)
    bad = [r for r in rows + [o for _, o in outages] if r["leftovers"]]
    return 1 if bad else 0


def print_table(rows: list[dict], outages: list[tuple[str, dict]]) -> None:
    print(
        "\n| fault rate | runs | deploy ok | exit 4 with state kept | other exits | "
        "leftovers after destroy | faults met | deploy s (mean) | destroy s (mean) | "
        "time overhead vs 0% |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    by_rate: dict[float, list[dict]] = {}
    for row in rows:
        by_rate.setdefault(row["rate"], []).append(row)
    total = lambda r: r["deploy_s"] + r["destroy_s"]  # noqa: E731
    zero = statistics.mean(total(r) for r in by_rate[0.0]) if 0.0 in by_rate else None
    for rate, group in sorted(by_rate.items()):
        ok = sum(r["deploy_exit"] == 0 for r in group)
        kept = sum(bool(r["kept"]) for r in group)
        other = len(group) - ok - kept
        left = sum(len(r["leftovers"]) for r in group)
        faults = sum(sum(r["faults"].values()) for r in group)
        mean = statistics.mean(total(r) for r in group)
        overhead = f"{(mean / zero - 1) * 100:+.0f}%" if zero else "n/a"
        print(
            f"| {rate:.0%} | {len(group)} | {ok} | {kept} | {other} | {left} | {faults} | "
            f"{statistics.mean(r['deploy_s'] for r in group):.0f} | "
            f"{statistics.mean(r['destroy_s'] for r in group):.0f} | {overhead} |"
        )
    for where, row in outages:
        print(
            f"cloud gone 30 s during {where}: deploy exit {row['deploy_exit']}, destroy exit "
            f"{row['destroy_exit']}, leftovers after destroy {len(row['leftovers'])}, "
            f"deploy {row['deploy_s']:.0f} s, destroy {row['destroy_s']:.0f} s"
        )


if __name__ == "__main__":
    sys.exit(main())
