"""Servers that boot: the nspawn driver through the API, then a testbed used for real.

`test_a_server_boots_through_the_api` needs no bootstrap. The rest deploys one testbed
(1 manager + 3 nodes) for the module: host keys come from the console
log through the compute API and are pinned; `ssh` reaches the manager on its floating IP and a
node through it with StrictHostKeyChecking yes; `watch` follows the real bootstrap through the
local cloud's package mirrors to the first step that needs another source; `tunnel`
(sshuttle) reaches a TCP service on a node; reboot and delete through the API restart / stop
the container; destroy leaves nothing on the host.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.localcloud.conftest import (
    Cli,
    LocalCloud,
    cli_runner,
    host_ids_of_testbed,
    host_leftovers,
    user_env,
)
from tests.netns.containers import tcp_banner as banner
from tests.netns.containers import wait_until

NAME = "lc-boot"


@pytest.fixture(scope="module")
def env(cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return user_env(cloud.clouds_file, tmp_path_factory.mktemp("boot"))


NOLOGIN = "System is booting up"  # pam_nologin's answer while /run/nologin exists


@pytest.fixture(scope="module")
def cli(env: dict[str, str]) -> Cli:
    """The user's `scs-testbed`; a command turned away by a server that has not finished
    booting gets the containers' own view appended to its stderr (for the failure message)."""
    run = cli_runner(env)
    workspace = Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / NAME

    def checked(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        done: subprocess.CompletedProcess[str] = run(*args, **options)
        if done.returncode != 0 and NOLOGIN in done.stdout + done.stderr:
            done.stderr += "\n" + containers_view(workspace)
        return done

    return checked


def containers_view(workspace: Path) -> str:
    """What each server's container says about its boot: systemd's state and pending jobs,
    /run/nologin and its time, the host's uptime (the journal's monotonic times count from
    it), the end of the boot's journal and of the console."""
    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn
    from scs_testbed.remote.testbed import server_ids

    try:
        servers = server_ids(json.loads((workspace / "outputs.json").read_text()))
    except (OSError, ValueError) as error:
        return f"(no servers to look at: {error})"
    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    script = (
        "echo system: $(systemctl is-system-running); systemctl list-jobs --no-pager | head -n 15;"
        " ls -l --time-style=+%T /run/nologin 2>&1; echo uptime: $(cut -d' ' -f1 /proc/uptime);"
        " journalctl -b --no-pager -n 25 -o short-monotonic 2>&1"
    )
    parts = []
    for alias, server in servers.items():
        pids = host.pids(server)
        parts.append(f"-- {alias} ({server}): nspawn and its processes {pids[:4]}")
        if len(pids) >= 2:
            shown = subprocess.run(
                ["nsenter", "-t", str(pids[1]), "-m", "-u", "-i", "-n", "-p", "sh", "-c", script],
                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            parts.append(shown.stdout + shown.stderr)
        console = host.console_output(server).decode(errors="replace").splitlines()
        parts.append("console (end):\n" + "\n".join(console[-15:]))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def nspawn_cloud(booting_cloud: LocalCloud) -> None:
    """Servers must boot: the local cloud runs the nspawn driver (set by booting_cloud)."""


def test_a_server_boots_through_the_api(
    nspawn_cloud: None, cloud: LocalCloud, tmp_path: Path
) -> None:
    """No testbed, no bootstrap: a server with a small user_data, created with openstacksdk
    as any user would, boots from nova's config drive (its DHCP subnet made static), prints
    host keys on the console, answers SSH on its floating IP with exactly those keys,
    reboots and stops through the API; deleting it all leaves nothing on the host."""
    import base64

    import paramiko

    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn
    from scs_testbed.remote import hostkeys
    from tests.netns import containers

    conn, prefix = cloud.project, "lc-api-boot"
    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    made: list[tuple[str, Any]] = []
    namespaces: set[str] = set()
    try:
        keypair = conn.compute.create_keypair(
            name=prefix, public_key=(tmp_path / "id_ed25519.pub").read_text()
        )
        made.append(("keypair", keypair))
        network = conn.network.create_network(name=prefix)
        made.append(("network", network))
        subnet = conn.network.create_subnet(
            name=prefix, network_id=network.id, ip_version=4, cidr="192.168.16.0/20"
        )
        made.append(("subnet", subnet))
        router = conn.network.create_router(
            name=prefix,
            external_gateway_info={"network_id": conn.network.find_network("public").id},
        )
        made.append(("router", router))
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        made.append(("interface", (router, subnet)))
        port = conn.network.create_port(
            name=prefix,
            network_id=network.id,
            fixed_ips=[{"subnet_id": subnet.id, "ip_address": "192.168.16.5"}],
        )
        made.append(("port", port))
        user_data = containers.USER_DATA.format(hostname=prefix)
        server = conn.compute.create_server(
            name=prefix,
            flavor_id=conn.compute.find_flavor("SCS-1V-2-10").id,
            image_id=conn.image.find_image("Ubuntu 24.04").id,
            networks=[{"port": port.id}],
            key_name=prefix,
            user_data=base64.b64encode(user_data.encode()).decode(),
        )
        made.append(("server", server))
        fip = conn.network.create_ip(
            floating_network_id=conn.network.find_network("public").id, port_id=port.id
        )
        made.append(("ip", fip))
        address = fip.floating_ip_address
        conn.compute.wait_for_server(server, "ACTIVE", wait=180)
        namespaces = {n.namespace for n, _ in host.network_records() if n.id == network.id}
        assert namespaces, "no namespace for the server's network"

        console = lambda: conn.compute.get_server_console_output(server)["output"]  # noqa: E731
        wait_until(lambda: hostkeys.END_MARKER in console(), 180, "host keys on the console")
        keys = hostkeys.parse_console_host_keys(console())
        wait_until(lambda: banner(address).startswith(b"SSH-2.0"), 180, "sshd on the fip")

        def hostname() -> str:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            for k in keys:
                blob = base64.b64decode(k.blob)
                client.get_host_keys().add(
                    address, k.key_type, paramiko.PKey.from_type_string(k.key_type, blob)
                )
            client.connect(
                address,
                username=containers.DEFAULT_USER,
                key_filename=str(key),
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
            )
            try:
                return client.exec_command("hostname")[1].read().decode().strip()
            finally:
                client.close()

        assert hostname() == prefix

        nspawn_pid = lambda: (host.pids(server.id) or [0])[0]  # noqa: E731
        before = nspawn_pid()
        conn.compute.reboot_server(server, "HARD")
        wait_until(lambda: nspawn_pid() not in (0, before), 120, "a new container")
        conn.compute.wait_for_server(conn.compute.get_server(server.id), "ACTIVE", wait=120)
        wait_until(lambda: banner(address).startswith(b"SSH-2.0"), 180, "sshd after reboot")
        assert hostname() == prefix  # same disk, same host keys

        conn.compute.stop_server(server)
        conn.compute.wait_for_server(conn.compute.get_server(server.id), "SHUTOFF", wait=120)
        assert not host.is_running(server.id)
    finally:
        for kind, resource in reversed(made):
            if kind == "server":
                conn.compute.delete_server(resource, ignore_missing=True)
                conn.compute.wait_for_delete(resource, wait=120)
            elif kind == "interface":
                conn.network.remove_interface_from_router(resource[0], subnet_id=resource[1].id)
            elif kind == "keypair":
                conn.compute.delete_keypair(resource, ignore_missing=True)
            else:
                getattr(conn.network, f"delete_{kind}")(resource, ignore_missing=True)
    servers = {resource.id for kind, resource in made if kind == "server"}
    assert host_leftovers(namespaces, servers) == []


@pytest.fixture(scope="module")
def testbed(nspawn_cloud: None, cli: Cli, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The deployed testbed (destroyed afterwards, whatever happened)."""
    started = time.monotonic()
    try:
        # the configuration repository: a stand-in the test puts on the manager later
        # (test_the_bootstrap_resumes_reboots_and_runs_the_configuration_scripts)
        done = cli(
            "deploy", "-e", "local", "--name", NAME,
            "-o", f"configuration_repository=file://{STANDIN_REPOSITORY}",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        workspace = Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / NAME
        deployed = time.monotonic() - started
        # the host keys on a console come after the boot let users in (cloud-final runs
        # after multi-user.target): each server takes a login at once, else say why not
        from scs_testbed.remote.testbed import server_ids

        for host in server_ids(json.loads((workspace / "outputs.json").read_text())):
            wait_for_login(cli_runner(env), workspace, host, 300)
        yield {"workspace": workspace, "deploy_seconds": deployed}
    finally:
        cli("destroy", NAME, "--yes", "--force-cleanup")


def wait_for_login(cli: Cli, workspace: Path, host: str, limit: float) -> None:
    """Poll until `host` takes a login; fail with the containers' view (read once, at the
    end) when it still turns users away as booting after `limit` seconds (any other refusal
    fails at once)."""
    from scs_testbed.polling import poll

    refused: list[str] = []

    def ask() -> bool | None:
        done = cli("ssh", "--name", NAME, host, "--", "true", timeout=120)
        if done.returncode == 0:
            return True
        assert NOLOGIN in done.stderr, f"{host}: {done.stderr}"
        refused[:] = [done.stderr]
        return None

    if poll(ask, limit) is None:
        raise AssertionError(
            f"{host} took no login {limit:.0f} s after the deploy:\n{refused[0]}\n"
            + containers_view(workspace)
        )


def test_host_keys_from_the_console_are_pinned(testbed: dict[str, Any], cli: Cli) -> None:
    workspace = testbed["workspace"]
    known = (workspace / "known_hosts").read_text()
    config = (workspace / "ssh_config").read_text()
    assert "StrictHostKeyChecking yes" in config
    assert "StrictHostKeyChecking no" not in config
    assert "ssh-ed25519" in known
    for host in ("192.168.16.10", "192.168.16.11", "192.168.16.12"):
        assert host in known, host
    console = cli("console", NAME, "manager")
    assert "BEGIN SSH HOST KEY KEYS" in console.stdout, console.stderr


def test_ssh_to_the_manager_and_to_a_node(testbed: dict[str, Any], cli: Cli) -> None:
    done = cli("ssh", "--name", NAME, "manager", "--", "true", timeout=120)
    assert done.returncode == 0, done.stderr
    done = cli("ssh", "--name", NAME, "node-2", "--", "hostname", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{NAME}-node-2"


def test_cloud_init_is_done_before_the_bootstrap_unit_starts(
    testbed: dict[str, Any], cli: Cli
) -> None:
    """cloud-init only starts the bootstrap's own unit: cloud-final (which prints the host
    keys) has finished before the unit's process starts, and cloud-init says done (waited
    for: it may still run when sshd answers)."""
    units = "cloud-final.service scs-testbed-bootstrap.service"
    script = (
        f"cloud-init status --wait; for u in {units}; do systemctl show -p "
        "ActiveEnterTimestampMonotonic -p ExecMainStartTimestampMonotonic $u; done"
    )
    shown = cli("ssh", "--name", NAME, "manager", "--", script, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "status: done" in shown.stdout, shown.stdout
    values = [int(line.split("=")[1]) for line in shown.stdout.splitlines() if "=" in line]
    final_done, _, _, bootstrap_started = values
    assert 0 < final_done <= bootstrap_started, shown.stdout


def test_watch_follows_the_bootstrap_through_the_mirrors_to_the_first_unreachable_source(
    testbed: dict[str, Any], cli: Cli, record_testsuite_property: Callable[[str, object], None]
) -> None:
    """The `local` environment's apt_proxy and pypi_index_url are the local cloud's mirrors:
    `packages` (apt through apt-cacher-ng) and `venv` (the reference's Python packages through
    devpi) run for real; the bootstrap stops at `collections`, whose source (the Ansible
    collection server) is out of reach, and watch names it and its variable."""
    done = cli("watch", NAME, "--plain", "--timeout", "1500", timeout=1560)
    output = done.stdout + done.stderr
    assert done.returncode == 5, output  # remote / bootstrap failed
    assert "bootstrap failed in step 'collections'" in output, output
    assert "cannot reach the Ansible collection server" in output, output
    assert "ansible_galaxy_server" in output, output
    # the steps before it really ran on the booted manager
    assert "cloud-init finished" in output, output
    assert "bootstrap failed in step 'packages'" not in output, output
    shown = cli(
        "ssh", "--name", NAME, "manager", "--",
        "/opt/venv/bin/ansible --version | head -n 1; stat -c %U /opt/venv; "
        "dpkg -s build-essential | sed -n 's/^Status: //p'",
        timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    first, owner, status = shown.stdout.strip().splitlines()
    assert "core 2.18." in first, shown.stdout
    assert owner == "dragon"
    assert status == "install ok installed"
    # the steps' own record (progress protocol): packages and venv done, collections failed;
    # their times go to the JUnit report (the figures of cold and warm mirrors)
    events = cli("ssh", "--name", NAME, "manager", "--", "cat /var/log/scs-testbed/progress.jsonl")
    assert events.returncode == 0, events.stderr
    seen: dict[tuple[str, str], datetime] = {}
    for line in events.stdout.splitlines():
        event = json.loads(line)
        seen.setdefault((event["step"], event["state"]), parse_ts(event["ts"]))
    for step in ("packages", "venv"):
        took = seen[(step, "done")] - seen[(step, "start")]
        record_testsuite_property(f"bootstrap_{step}_seconds", round(took.total_seconds(), 1))
    assert ("collections", "failed") in seen


def test_servers_reach_the_mirrors_and_nothing_else(testbed: dict[str, Any], cli: Cli) -> None:
    """From the manager (floating IP) and a node (none): the mirrors answer; the router
    still rejects a direct connection to any outside address, and other ports of the
    mirrors' address."""
    from scs_testbed.localcloud import mirrors

    urls = [
        mirrors.APT_PROXY_URL + "/",
        # one project's page, as pip asks it (the index root lists all of PyPI: devpi takes
        # longer than curl's limit to fetch that list when it is not cached)
        mirrors.PYPI_INDEX_URL + "pip/",
        "http://192.0.2.1/",
        f"http://{mirrors.MIRROR_ADDRESS}:22/",
    ]
    probe = (
        f"for url in {' '.join(urls)}; do "
        "code=$(curl -s -o /dev/null -m 30 -w '%{http_code}' $url); echo \"$url $? $code\"; "
        "done"
    )
    for host in ("manager", "node-1"):
        done = cli("ssh", "--name", NAME, host, "--", probe, timeout=120)
        assert done.returncode == 0, done.stderr
        results = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
        assert results[mirrors.PYPI_INDEX_URL + "pip/"] == ["0", "200"], (host, done.stdout)
        assert results[mirrors.APT_PROXY_URL + "/"][0] == "0", (host, done.stdout)
        for refused in ("http://192.0.2.1/", f"http://{mirrors.MIRROR_ADDRESS}:22/"):
            # curl 7: connection refused (the router's TCP reset), never a timeout (28)
            assert results[refused][0] == "7", (host, refused, done.stdout)


STANDIN_REPOSITORY = "/srv/standin-configuration.git"
STANDIN_RECORD = "/var/tmp/standin-ran.txt"
RESTART = (
    "sudo systemctl reset-failed scs-testbed-bootstrap.service; "
    "sudo systemctl start --no-block scs-testbed-bootstrap.service"
)


def parse_ts(text: str) -> datetime:
    """A progress event's time (UTC, microseconds, a Z suffix)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def standin_repository(root: Path) -> Path:
    """A bare configuration repository with the reference's script names whose scripts only
    record that they ran (monitoring fails on its first run), and the files the bootstrap's
    configuration step reads (host_vars of the manager, the testbed CA)."""
    from tests.netns.test_bootstrap_checks import reference_trace

    work = root / "standin"
    for entry in reference_trace()["script_order"]:
        script = work / entry["script"]
        script.parent.mkdir(parents=True, exist_ok=True)
        body = f"echo {entry['script']} >>{STANDIN_RECORD}\necho stand-in: {entry['script']} ran\n"
        if entry["script"].endswith("400-monitoring.sh"):
            once = "/var/tmp/standin-monitoring-failed"
            body += f'[ -e {once} ] || {{ touch {once}; echo "stand-in failure, once"; exit 7; }}\n'
        script.write_text(f"#!/bin/sh\n{body}")
        script.chmod(0o755)
    vars_file = work / "inventory/host_vars/testbed-manager/vars.yml"
    vars_file.parent.mkdir(parents=True)
    vars_file.write_text("# stand-in\n")
    ca = work / "environments/kolla/certificates/ca"
    ca.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "2",
         "-subj", "/CN=stand-in testbed CA", "-keyout", str(root / "ca.key"),
         "-out", str(ca / "testbed.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "stand-in"], check=True)
    bare = root / "standin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def done_by_hand(*steps: str) -> str:
    """Mark steps done as a user would after doing them by hand, and restart the unit."""
    markers = " ".join(f"/var/lib/scs-testbed/done/{step}" for step in steps)
    return f"sudo touch {markers} && {RESTART}"


def watched_log_lines(output: str) -> list[str]:
    """The bootstrap log's lines as `watch --plain` printed them (indented by 3)."""
    return [line[3:].rstrip() for line in output.splitlines() if line.startswith("   ")]


def test_the_bootstrap_resumes_reboots_and_runs_the_configuration_scripts(
    testbed: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    """Past the internet, the glue: each step that needs it is marked done by hand and the
    unit restarted, as a user would after fixing a source. Each restart is a new run that
    `watch` follows. For real: the operator (uid/gid 45000), the venv owned by it (made
    through the mirror), the clone of the configuration repository
    (a stand-in on the manager) at its version, the manager's reboot (a new container) with
    `watch` reconnecting without losing or repeating a line, the nodes' join, and the stand-in
    scripts in the reference's order; a failing one fails its step with its output, and after
    another restart the run ends `done`."""
    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn
    from tests.netns.test_bootstrap_checks import reference_trace

    def ssh(command: str) -> str:
        done = cli("ssh", "--name", NAME, "manager", "--", command, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        return done.stdout

    def watch(expected: int) -> str:
        done = cli("watch", NAME, "--plain", "--timeout", "900", timeout=960)
        output = done.stdout + done.stderr
        assert done.returncode == expected, output
        return output

    workspace = testbed["workspace"]
    bare = standin_repository(tmp_path)
    copied = subprocess.run(
        ["scp", "-F", str(workspace / "ssh_config"), "-q", "-r", str(bare),
         "manager:/tmp/standin.git"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    # the operator, made by the resumed run, must own what it clones (git's safe.directory
    # rule for local clones): uid/gid 45000 are the reference's
    ssh(f"sudo mv /tmp/standin.git {STANDIN_REPOSITORY}")
    ssh(f"sudo chown -R 45000:45000 {STANDIN_REPOSITORY}")
    assert ssh("stat -c %U:%u:%g /opt/venv /home/dragon").split() == ["dragon:45000:45000"] * 2

    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    manager_id = json.loads((workspace / "outputs.json").read_text())["servers"]["manager"]
    before = host.pids(manager_id)
    ssh(done_by_hand("collections", "docker", "docker-ready"))
    output = watch(5)
    assert "bootstrap failed in step 'monitoring'" in output, output
    assert "stand-in failure, once" in output, output
    assert "reconnecting" in output, output  # the manager rebooted under watch
    after = host.pids(manager_id)
    assert after and after != before, "the manager's container did not restart"
    # dpkg's progress ("Reading database ... 5%\r…", from `packages` through the mirror)
    # redraws one line with carriage returns: watch prints it as one line without them
    # (removed on the manager: the test's text-mode pipes would turn each one into a newline)
    log = [
        line.rstrip()
        for line in ssh("tr -d '\\r' </var/log/scs-testbed/bootstrap.log").splitlines()
    ]
    assert watched_log_lines(output) == log  # across the reboot: nothing lost, nothing twice

    ssh(RESTART)
    watch(0)
    checks = (
        f"cat {STANDIN_RECORD}; "
        "sudo -u dragon git -C /opt/configuration log -1 --format=%s; "
        "grep -c cleanup_cloudinit "
        "/opt/configuration/inventory/host_vars/testbed-manager/vars.yml; "
        "sed -n 's/^export NUMBER_OF_NODES=//p' /opt/manager-vars.sh"
    )
    lines = ssh(checks).split()
    scripts = [e["script"] for e in reference_trace()["script_order"]]
    monitoring = scripts.index(next(s for s in scripts if s.endswith("400-monitoring.sh")))
    assert lines[:-3] == [*scripts[: monitoring + 1], *scripts[monitoring:]], lines
    assert lines[-3] == "stand-in"  # the stand-in's commit, cloned for real
    assert lines[-2] == "1"  # cleanup_cloudinit: false added once
    assert lines[-1] == "3"  # /opt/manager-vars.sh: NUMBER_OF_NODES of the testbed


def test_smoke_host_checks_on_the_booted_testbed(
    testbed: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    """`scs-testbed smoke` (testinfra over the pinned ssh_config, nodes through the manager)
    on the testbed whose bootstrap ended `done` above with stand-in scripts: cloud-init and
    the bootstrap pass on every host; no OSISM runs here, so every OSISM check (containers,
    Ceph, infrastructure, monitoring) must fail — neither pass nor skip — and smoke exits 6."""
    from scs_testbed.smoke import suite

    junit = tmp_path / "smoke.xml"
    done = cli("smoke", NAME, "-m", "hosts", "--junit", str(junit), timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 6, output
    checks = suite.read_junit(junit)
    outcomes = {c.name: c.outcome for c in checks}
    hosts = ["manager", "node-0", "node-1", "node-2"]
    for name in ("test_cloud_init_finished", "test_bootstrap_finished"):
        ran = {n: o for n, o in outcomes.items() if n.split("[")[0] == name}
        assert len(ran) >= 1 and set(ran.values()) == {"passed"}, (name, ran, output)
    cloud_init = [n for n in outcomes if n.startswith("test_cloud_init_finished")]
    assert all(any(h in n for n in cloud_init) for h in hosts), cloud_init
    osism = [c for c in checks if c.group in ("containers", "ceph", "infrastructure", "monitoring")]
    assert osism, outcomes
    assert {c.outcome for c in osism} == {"failed"}, [(c.name, c.outcome) for c in osism]


def test_tunnel_reaches_a_tcp_service_on_a_node(testbed: dict[str, Any], cli: Cli) -> None:
    serve = "nohup python3 -m http.server 8089 --bind 192.168.16.11 >/dev/null 2>&1 &"
    # one word after --: like ssh, the remote login shell parses the command line
    done = cli("ssh", "--name", NAME, "node-1", "--", serve, timeout=120)
    assert done.returncode == 0, done.stderr
    up = cli("tunnel", NAME, "--background", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        wait_until(
            lambda: banner_http("192.168.16.11", 8089), 60, "the node's HTTP server via the tunnel"
        )
    finally:
        stop = cli("tunnel", NAME, "--stop")
        assert stop.returncode == 0, stop.stderr


def banner_http(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            sock.settimeout(5)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def test_reboot_and_delete_through_the_api(testbed: dict[str, Any], cloud: LocalCloud) -> None:
    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

    conn = cloud.project
    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    node = conn.compute.find_server(f"{NAME}-node-0")
    nspawn_pid = lambda: (host.pids(node.id) or [0])[0]  # noqa: E731
    before = nspawn_pid()
    conn.compute.reboot_server(node, "HARD")
    wait_until(
        lambda: nspawn_pid() not in (0, before),
        120,
        "a new container after the reboot",
    )
    conn.compute.wait_for_server(conn.compute.get_server(node.id), "ACTIVE", wait=120)

    doomed = conn.compute.find_server(f"{NAME}-node-1")
    conn.compute.delete_server(doomed)
    conn.compute.wait_for_delete(doomed, wait=120)
    assert not host.is_running(doomed.id)
    assert not host.server_dir(doomed.id).exists()


def test_destroy_leaves_nothing_on_the_host(testbed: dict[str, Any], cli: Cli) -> None:
    from scs_testbed.localcloud import Layout
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

    namespaces, servers = host_ids_of_testbed(testbed["workspace"])
    assert namespaces
    host = nspawn.Host(Layout.default().hosts, Path("/nonexistent"))
    assert [s for s in servers if host.is_running(s)], "no server of the testbed runs"
    done = cli("destroy", NAME, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert host_leftovers(namespaces, servers) == []
