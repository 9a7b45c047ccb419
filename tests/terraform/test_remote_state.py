"""Remote state in an S3-compatible store, with the real CLIs (OpenTofu and Terraform).

The store is a real S3 server on loopback: MinIO when tests/tools/build-minio has built it
(the server teams run themselves), else moto's server mode (pip: moto[server]; it implements
the conditional PUT that `use_lockfile` relies on). The backend settings are the product's own
(`RemoteState.backend_settings`); the root modules use `terraform_data` only, so no cloud is
needed: the backend is what is under test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scs_testbed.remote_state import RECORD_OUTPUT, RemoteState, add_backend
from tests import tiers

BUCKET = "scs-states"
KEYS = {"AWS_ACCESS_KEY_ID": "scs-test-access", "AWS_SECRET_ACCESS_KEY": "scs-test-secret-key"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An S3 server on loopback with an empty bucket; which server it is, and its URL."""
    port = _free_port()
    minio = tiers.minio_command()
    data = tmp_path_factory.mktemp("s3")
    env = dict(os.environ)
    if minio:
        env.update(MINIO_ROOT_USER=KEYS["AWS_ACCESS_KEY_ID"])
        env.update(MINIO_ROOT_PASSWORD=KEYS["AWS_SECRET_ACCESS_KEY"])
        argv = [minio, "server", "--quiet", "--address", f"127.0.0.1:{port}", str(data)]
        kind = "minio"
    else:
        reason = tiers.missing_s3_server()
        if reason:
            if "terraform" in tiers.required_tiers():
                pytest.fail(f"remote-state tests need an S3 server: {reason}", pytrace=False)
            pytest.skip(f"remote-state tests: {reason}")
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        kind = "moto"
    log = (data / "server.log").open("w")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        client = _client(url)
        deadline = time.monotonic() + 60
        while True:  # poll until the API answers
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{kind} did not start: {(data / 'server.log').read_text()}")
                time.sleep(0.2)
        yield {"kind": kind, "url": url, "client": client}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def cli(terraform_env: dict[str, str], cli_kind: str) -> Any:
    """Run the test CLI of `cli_kind` with the store's keys (returns the completed process)."""
    binary = tiers.terraform_clis()[cli_kind]
    env = {**terraform_env, **KEYS}

    def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(binary), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    run.binary = binary  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


def remote_module(store: RemoteState, name: str, sleep: float = 0) -> dict[str, Any]:
    """A root module shaped like the testbed's (variables, record output, outputs the access
    commands read) whose only resources are terraform_data."""
    module: dict[str, Any] = {
        "terraform": {"required_version": ">= 1.6.0"},
        "variable": {key: {} for key in ("cloud_provider", "prefix", "public_key")},
        "resource": {"terraform_data": {"manager": {"input": "${var.prefix}-manager"}}},
        "output": {
            "manager_address": {"value": "203.0.113.5"},
            "image_user": {"value": "ubuntu"},
            "node_addresses": {"value": ["192.168.16.10"]},
            "servers": {"value": {"manager": "${terraform_data.manager.id}", "nodes": []}},
        },
    }
    if sleep:  # an apply that holds the lock for a while
        module["resource"]["terraform_data"]["slow"] = {
            "triggers_replace": "${timestamp()}",
            "provisioner": [{"local-exec": {"command": f"sleep {sleep}"}}],
        }
    return add_backend(module, store, name, "local")


def workdir(base: Path, module: dict[str, Any], prefix: str = "tb1") -> Path:
    base.mkdir(parents=True, exist_ok=True)
    (base / "main.tf.json").write_text(json.dumps(module))
    variables = {"cloud_provider": "local", "prefix": prefix, "public_key": "ssh-ed25519 AAAA x"}
    (base / "terraform.tfvars.json").write_text(json.dumps(variables))
    return base


def test_state_is_written_to_the_store_and_read_back_elsewhere(
    s3_store: dict[str, Any], cli: Any, cli_kind: str, tmp_path: Path
) -> None:
    store = RemoteState(s3_store["url"], BUCKET, prefix=f"rw-{cli_kind}")
    module = remote_module(store, "tb1")
    first = workdir(tmp_path / "machine-a", module)
    started = time.monotonic()
    cli("init", "-input=false", cwd=first)
    cli("apply", "-auto-approve", "-input=false", cwd=first)
    applied = time.monotonic() - started
    assert not (first / "terraform.tfstate").exists(), "the state must not be local"
    body = s3_store["client"].get_object(Bucket=BUCKET, Key=store.key("tb1"))["Body"].read()
    written = json.loads(body)
    assert [r["name"] for r in written["resources"]] == ["manager"]
    # another machine: another directory, the same backend
    second = workdir(tmp_path / "machine-b", module)
    cli("init", "-input=false", cwd=second)
    pulled = json.loads(cli("state", "pull", cwd=second).stdout)
    assert (pulled["lineage"], pulled["serial"]) == (written["lineage"], written["serial"])
    outputs = json.loads(cli("output", "-json", cwd=second).stdout)
    assert outputs[RECORD_OUTPUT]["value"]["variables"]["prefix"] == "tb1"
    assert outputs["manager_address"]["value"] == "203.0.113.5"
    # a plan from the second machine sees nothing to change: it reads the same state
    plan = cli("plan", "-input=false", "-detailed-exitcode", cwd=second, check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    print(f"\n{cli_kind} + {s3_store['kind']}: init + apply with remote state {applied:.1f} s")


def test_a_second_concurrent_apply_fails_on_the_lock(
    s3_store: dict[str, Any], cli: Any, cli_kind: str, tmp_path: Path
) -> None:
    store = RemoteState(s3_store["url"], BUCKET, prefix=f"lock-{cli_kind}")
    module = remote_module(store, "tb1", sleep=8)
    first = workdir(tmp_path / "machine-a", module)
    second = workdir(tmp_path / "machine-b", module)
    cli("init", "-input=false", cwd=first)
    cli("init", "-input=false", cwd=second)
    client, lock = s3_store["client"], store.key("tb1") + ".tflock"
    holder = subprocess.Popen(
        [cli.binary, "apply", "-auto-approve", "-input=false"],
        cwd=first,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _exists(client, lock):  # the first apply holds the lock
            assert holder.poll() is None, holder.stdout.read() if holder.stdout else ""
            assert time.monotonic() < deadline, "the first apply never took the lock"
            time.sleep(0.1)
        started = time.monotonic()
        loser = cli("apply", "-auto-approve", "-input=false", "-json", cwd=second, check=False)
        refused_in = time.monotonic() - started
    finally:
        out, _ = holder.communicate(timeout=120)
    assert loser.returncode != 0
    diagnostics = [
        json.loads(line)["diagnostic"]
        for line in loser.stdout.splitlines()
        if '"type":"diagnostic"' in line
    ]
    assert any(d["summary"] == "Error acquiring the state lock" for d in diagnostics), loser.stdout
    assert any("Lock Info" in d["detail"] for d in diagnostics)
    assert holder.returncode == 0, out
    # nothing corrupted: one valid state, written by the winner, and the lock released
    state = json.loads(client.get_object(Bucket=BUCKET, Key=store.key("tb1"))["Body"].read())
    assert sorted(r["name"] for r in state["resources"]) == ["manager", "slow"]
    assert not _exists(client, lock)
    again = cli("plan", "-input=false", "-detailed-exitcode", cwd=second, check=False)
    assert again.returncode == 2  # only the always-replaced `slow` resource: state readable
    print(
        f"\n{cli_kind} + {s3_store['kind']}: second apply refused on the lock in {refused_in:.1f} s"
    )


def _exists(client: Any, key: str) -> bool:
    try:
        client.head_object(Bucket=BUCKET, Key=key)
    except Exception:
        return False
    return True


def test_a_second_machine_attaches_lists_and_reads_the_state(
    s3_store: dict[str, Any],
    cli: Any,
    cli_kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The product's own path: `remote-state attach` and `list` in another state directory."""
    from scs_testbed import remote_state
    from scs_testbed.attach import attach
    from scs_testbed.terraform import TerraformRunner
    from scs_testbed.workspace import Workspace

    store = RemoteState(s3_store["url"], BUCKET, prefix=f"attach-{cli_kind}")
    first = workdir(tmp_path / "machine-a", remote_module(store, "tb1"))
    cli("init", "-input=false", cwd=first)
    cli("apply", "-auto-approve", "-input=false", cwd=first)

    for key, value in {**KEYS, "TF_CLI_CONFIG_FILE": cli.env["TF_CLI_CONFIG_FILE"]}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "machine-b-state"))
    monkeypatch.setenv(remote_state.CONFIG_VARIABLE, str(tmp_path / "remote-state.json"))
    remote_state.save_config(store)

    rows = remote_state.list_store()
    assert [(r["name"], r["environment"], r["resources"]) for r in rows] == [("tb1", "local", 1)]
    meta = attach("tb1", None, str(cli.binary))
    assert (meta["cloud"], meta["prefix"], meta["state"]) == ("local", "tb1", "deployed")
    workspace = Workspace.named("tb1")
    assert json.loads(workspace.tfvars_file.read_text())["prefix"] == "tb1"
    assert workspace.read_outputs()["manager_address"] == "203.0.113.5"
    assert "203.0.113.5" in workspace.ssh_config.read_text()
    assert not workspace.private_key.exists()  # never through the store
    runner = TerraformRunner(str(cli.binary), workspace.path)
    assert [r["name"] for r in runner.state_resources()] == ["manager"]
    assert not workspace.state_file.exists()
    with pytest.raises(Exception, match="already has a working directory"):
        attach("tb1", None, str(cli.binary))
    with pytest.raises(Exception, match="holds no testbed 'nothing-here'"):
        attach("nothing-here", None, str(cli.binary))
    assert not Workspace.named("nothing-here").path.exists()


def test_the_products_runner_reads_the_store_and_names_the_lock_holder(
    s3_store: dict[str, Any],
    cli: Any,
    cli_kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TerraformRunner (init, -json apply, state via `state pull`) and the lock error as the
    lifecycle commands show it: the real diagnostic through terraform_failure and its hint."""
    from python_terraform import IsFlagged

    from scs_testbed.terraform import TerraformRunner
    from scs_testbed.testbed import terraform_failure

    for key, value in {**KEYS, "TF_CLI_CONFIG_FILE": cli.env["TF_CLI_CONFIG_FILE"]}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    store = RemoteState(s3_store["url"], BUCKET, prefix=f"runner-{cli_kind}")
    module = remote_module(store, "tb1", sleep=6)
    mine = TerraformRunner(str(cli.binary), workdir(tmp_path / "a", module))
    mine.init()
    first = mine.stream("apply", auto_approve=IsFlagged)
    assert first.ok, first.error_text()
    assert sorted(r["name"] for r in mine.state_resources()) == ["manager", "slow"]
    assert not (mine.workdir / "terraform.tfstate").exists()

    other = TerraformRunner(str(cli.binary), workdir(tmp_path / "b", module))
    other.init()
    holder = subprocess.Popen(
        [cli.binary, "apply", "-auto-approve", "-input=false"],
        cwd=mine.workdir,
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _exists(s3_store["client"], store.key("tb1") + ".tflock"):
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        refused = other.stream("apply", auto_approve=IsFlagged)
    finally:
        assert holder.wait(timeout=120) == 0
    assert not refused.ok and refused.transient() is None  # a lock is not retried blindly
    error = terraform_failure("apply", refused)
    assert "another run holds this testbed's state lock by " in str(error.hint)
    assert "force-unlock" in str(error.hint)
    assert [r["name"] for r in other.state_resources()] == ["manager", "slow"]
