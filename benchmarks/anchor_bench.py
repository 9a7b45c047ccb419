#!/usr/bin/env python3
"""Deploy and destroy side by side with the reference's own HCL, on the local cloud.

The reference is a checkout of osism/terraform-base in SCS_TESTBED_ANCHOR_DIR (never part of
this repository). Its `testbed-default` module is copied into a temporary directory with the
customisations and overrides its `environments/default.tfvars` names, and adapted where this
machine cannot follow it: HashiCorp's null and local providers are not served here, so
`null_resource` becomes `terraform_data` and the `local_file` outputs are dropped (the bench
says which). Both sides run with the same Terraform CLI and the same provider mirror, the
variables of our `local` environment, in alternating rounds; the bench prints the medians and
the ratios against the targets of issue 19, and for our side the time from the end of the
deploy until sshd answers on every server of the booting cloud.

Needs root and the local cloud (`SCS_TESTBED_LOCALCLOUD_DIR`); skips with a reason otherwise.
Every testbed is named `spd<pid>-…` and destroyed, also when a round fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.installed import as_installed  # noqa: E402
from tests import tiers  # noqa: E402
from tests.netns.containers import tcp_banner  # noqa: E402

ROUNDS = int(os.environ.get("SCS_TESTBED_ANCHOR_ROUNDS", "5"))
SSH_TARGET = 30.0
DROPPED_TYPES = ("local_file", "local_sensitive_file")  # hashicorp/local: not served here
DROPPED_PROVIDERS = ("local", "null")


def skip_reason() -> str | None:
    anchor = os.environ.get("SCS_TESTBED_ANCHOR_DIR")
    if not anchor:
        return "SCS_TESTBED_ANCHOR_DIR is not set (a checkout of osism/terraform-base)"
    if not (Path(anchor) / "testbed-default" / "main.tf").is_file():
        return f"{anchor} has no testbed-default/main.tf (not a checkout of osism/terraform-base)"
    if os.geteuid() != 0:
        return "needs root (the local cloud)"
    from scs_testbed.localcloud import readiness_problem

    problem = readiness_problem()
    if problem:
        return f"local cloud not usable: {problem}"
    if tiers.terraform_command() is None:
        return "no Terraform CLI (see tests/tiers.py)"
    if not any(tiers.provider_mirror().glob("*/*/*/*/*/terraform-provider-openstack*")):
        return "no provider mirror (make provider)"
    return None


# ----------------------------------------------------------------- the reference, adapted


def _block_end(text: str, start: int) -> int:
    """The index just past the `}` closing the first `{` at or after `start`."""
    depth = 0
    for index in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    raise ValueError("unbalanced braces")


def _drop_blocks(text: str, pattern: str) -> tuple[str, int]:
    dropped = 0
    while match := re.search(pattern, text, re.M):
        text = text[: match.start()] + text[_block_end(text, match.start()) :]
        dropped += 1
    return text, dropped


def adapt(text: str) -> tuple[str, list[str]]:
    """The reference's HCL without HashiCorp's null/local providers; what was changed."""
    notes = []
    for kind in DROPPED_TYPES:
        text, count = _drop_blocks(text, rf'^resource\s+"{kind}"\s+"[^"]+"\s*\{{')
        if count:
            notes.append(f"{count} {kind} dropped")
    for name in DROPPED_PROVIDERS:
        text, count = _drop_blocks(text, rf"^\s*{name}\s*=\s*\{{")
        if count:
            notes.append(f"provider {name} removed from required_providers")
    if "null_resource" in text:
        notes.append(f"null_resource -> terraform_data ({text.count('null_resource')} places)")
        text = text.replace("null_resource", "terraform_data")
    return text, notes


def reference_module(anchor: Path, dest: Path, network_zone: object) -> list[str]:
    """Copy testbed-default as the reference's Makefile would for its default environment."""
    source = anchor / "testbed-default"
    wanted = re.findall(
        r"^#\s*(customisation|override):(\S+)",
        (source / "environments" / "default.tfvars").read_text(),
        re.M,
    )
    files = sorted(source.glob("*.tf"))
    notes = []
    for kind, name in wanted:
        if name.startswith("neutron_availability_zone_hints") and network_zone is None:
            notes.append(f"override {name} left out: network_availability_zone is null here")
            continue
        folder = "customisations" if kind == "customisation" else "overrides"
        suffix = "custom" if kind == "customisation" else "override"
        files.append(source / folder / f"{name}_{suffix}.tf")
    dest.mkdir(parents=True)
    for path in files:
        text, changed = adapt(path.read_text())
        (dest / path.name).write_text(text)
        notes.extend(f"{path.name}: {note}" for note in changed)
    return notes


def reference_variables(dest: Path, ours: dict[str, object], prefix: str) -> dict[str, object]:
    """Our `local` environment's values for the variables the reference declares."""
    declared = set()
    for path in dest.glob("*.tf"):
        declared.update(re.findall(r'^variable\s+"([^"]+)"', path.read_text(), re.M))
    values = {k: v for k, v in ours.items() if k in declared and v is not None}
    values.update(prefix=prefix, keypair=f"{prefix}-key")
    return values


# ----------------------------------------------------------------------------- running


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} … failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return seconds


def environment(tmp: Path) -> dict[str, str]:
    from scs_testbed import localcloud

    env = as_installed(dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO)))
    env.update(
        OS_CLIENT_CONFIG_FILE=str(localcloud.Layout.default().clouds_file),
        TF_CLI_CONFIG_FILE=str(tiers.write_terraformrc(tmp / "terraformrc")),
        TF_PLUGIN_CACHE_DIR=str(tmp / "plugin-cache"),
        SCS_TESTBED_TERRAFORM=str(tiers.terraform_command()),
        SCS_TESTBED_STATE_DIR=str(tmp / "state"),
    )
    (tmp / "plugin-cache").mkdir()
    return env


def scs(*args: str) -> list[str]:
    return [sys.executable, "-m", "scs_testbed", *args]


def banners(prefix: str) -> Callable[[], bool]:
    """True once sshd answers on every server of `prefix`: the manager on its floating IP,
    the nodes on their fixed IPs from inside their network's namespace."""
    import openstack

    conn = openstack.connect(cloud="localcloud")
    targets: list[tuple[str | None, str]] = []
    for server in conn.compute.servers(name=f"^{prefix}-"):
        for port in conn.network.ports(device_id=server.id):
            fixed = port.fixed_ips[0]["ip_address"]
            floating = list(conn.network.ips(port_id=port.id))
            if floating:
                targets.append((None, floating[0].floating_ip_address))
            else:
                short = hashlib.sha256(port.network_id.encode()).hexdigest()[:10]
                targets.append((f"scsn-{short}", fixed))
    pending = list(targets)

    def answered(target: tuple[str | None, str]) -> bool:
        namespace, address = target
        if namespace is None:
            return tcp_banner(address).startswith(b"SSH-2.0")
        probe = f"exec 3<>/dev/tcp/{address}/22 && head -c 7 <&3"
        argv = ["ip", "netns", "exec", namespace, "timeout", "2", "bash", "-c", probe]
        return subprocess.run(argv, capture_output=True, check=False).stdout == b"SSH-2.0"

    def all_up() -> bool:
        pending[:] = [t for t in pending if not answered(t)]
        return not pending

    assert len(targets) >= 2, f"servers of {prefix}: {targets}"
    return all_up


def seconds_to_ssh(prefix: str, limit: float = 180.0) -> float:
    start = time.perf_counter()
    check = banners(prefix)
    while not check():
        if time.perf_counter() - start > limit:
            return float("inf")
        time.sleep(0.2)  # a poll interval: the loop ends on the event itself
    return time.perf_counter() - start


def apply_window(env: dict[str, str], name: str) -> tuple[float, float]:
    """When our last `terraform apply` began and ended (its -json log's first and last
    timestamps): the deploy's other parts are the preflight, init and plan before it and the
    wait for the servers' host keys after it."""
    from datetime import datetime

    logs = Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / name / "logs"
    newest = sorted(logs.glob("*-apply.jsonl"))[-1]
    stamps = []
    for line in newest.read_text().splitlines():
        try:
            stamps.append(datetime.fromisoformat(json.loads(line)["@timestamp"]).timestamp())
        except (ValueError, KeyError, TypeError):
            continue  # our own records in the log carry no timestamp
    return stamps[0], stamps[-1]


def verdict(value: float, target: float) -> str:
    return f"(target <= {target:g}) " + ("ok" if value <= target else "NOT MET")


def main() -> None:
    reason = skip_reason()
    if reason:
        print(f"skipped: {reason}")
        return
    from scs_testbed.environment import Catalog, load_environment

    ours_values = load_environment("local", Catalog.locate(None), []).values
    stamp = f"spd{os.getpid() % 100000}"
    tf = str(tiers.terraform_command())
    with tempfile.TemporaryDirectory(prefix="scs-anchor-", dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        env = environment(tmp)
        os.environ["OS_CLIENT_CONFIG_FILE"] = env["OS_CLIENT_CONFIG_FILE"]
        module = tmp / "reference"
        for note in reference_module(
            Path(os.environ["SCS_TESTBED_ANCHOR_DIR"]),
            module,
            ours_values.get("network_availability_zone"),
        ):
            print(f"reference adapted: {note}")
        ref_prefix = f"{stamp}-ref"
        variables = reference_variables(module, ours_values, ref_prefix)
        (module / "terraform.tfvars.json").write_text(json.dumps(variables, indent=1))
        init = timed([tf, "init", "-input=false", "-no-color"], env, module)
        print(f"reference init (once, not counted): {init:.1f} s", flush=True)
        keys = ("ours", "ours-", "ref", "ref-", "ssh", "pre", "apply", "keys")
        figures: dict[str, list[float]] = {k: [] for k in keys}
        ours_name = f"{stamp}-our"
        ref_apply = [tf, "apply", "-auto-approve", "-input=false", "-no-color"]
        ref_destroy = [tf, "destroy", "-auto-approve", "-input=false", "-no-color"]
        try:
            for round_ in range(ROUNDS):

                def ours() -> None:
                    started = time.time()
                    figures["ours"].append(
                        timed(scs("deploy", "-e", "local", "--name", ours_name), env)
                    )
                    ended = time.time()
                    begun, applied = apply_window(env, ours_name)
                    figures["pre"].append(begun - started)
                    figures["apply"].append(applied - begun)
                    figures["keys"].append(ended - applied)
                    seconds_to_ssh(ours_name)
                    figures["ssh"].append(time.time() - applied)
                    figures["ours-"].append(timed(scs("destroy", ours_name, "--yes"), env))

                def reference() -> None:
                    figures["ref"].append(timed(ref_apply, env, module))
                    figures["ref-"].append(timed(ref_destroy, env, module))

                for side in (ours, reference) if round_ % 2 == 0 else (reference, ours):
                    side()
                print(
                    f"round {round_ + 1}: deploy {figures['ours'][-1]:.1f} s vs apply "
                    f"{figures['ref'][-1]:.1f} s; destroy {figures['ours-'][-1]:.1f} s vs "
                    f"{figures['ref-'][-1]:.1f} s; our deploy = {figures['pre'][-1]:.1f} s "
                    f"before the apply + {figures['apply'][-1]:.1f} s apply + "
                    f"{figures['keys'][-1]:.1f} s host keys; sshd on every server "
                    f"{figures['ssh'][-1]:.1f} s after the apply; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        finally:
            subprocess.run(scs("destroy", ours_name, "--yes"), env=env, capture_output=True)
            subprocess.run(ref_destroy, env=env, cwd=module, capture_output=True)
        med = {k: statistics.median(v) for k, v in figures.items()}
        deploy, destroy = med["ours"] / med["ref"], med["ours-"] / med["ref-"]
        print(f"medians of {ROUNDS} alternating rounds (load {os.getloadavg()[0]:.2f}):")
        print(
            f"  deploy  {med['ours']:.1f} s vs reference apply {med['ref']:.1f} s: "
            f"{deploy:.2f}x {verdict(deploy, 0.8)}"
        )
        print(
            f"  destroy {med['ours-']:.1f} s vs reference destroy {med['ref-']:.1f} s: "
            f"{destroy:.2f}x {verdict(destroy, 0.8)}"
        )
        print(
            f"  our deploy: {med['pre']:.1f} s preflight + init + plan, {med['apply']:.1f} s "
            f"apply ({med['apply'] / med['ref']:.2f}x the reference's apply), "
            f"{med['keys']:.1f} s waiting for the host keys of the booting servers"
        )
        print(
            f"  sshd answering on every server: {med['ssh']:.1f} s after the apply "
            f"{verdict(med['ssh'], SSH_TARGET)}"
        )


if __name__ == "__main__":
    main()
