"""Ctrl-C and confirmations, on the real CLI in a subprocess (class 14 of issue 8).

Each test waits for an event it can observe (a connection accepted, a prompt written) before
it acts, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.loopback import SilentServer

REPO = Path(__file__).resolve().parents[2]
TESTBED = {"name": "tb", "environment": "local", "cloud": "good", "prefix": "tb"}


def cli_env(tmp_path: Path, clouds: str = "clouds: {}\n") -> dict[str, str]:
    (tmp_path / "clouds.yaml").write_text(clouds, encoding="utf-8")
    for directory in ("home", "state", "envs"):
        (tmp_path / directory).mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "SCS_TESTBED_")) and k != "XDG_STATE_HOME"
    }
    env.update(
        HOME=str(tmp_path / "home"),
        SCS_TESTBED_STATE_DIR=str(tmp_path / "state"),
        SCS_TESTBED_ENV_DIR=str(tmp_path / "envs"),
        OS_CLIENT_CONFIG_FILE=str(tmp_path / "clouds.yaml"),
        NO_COLOR="1",
        COLUMNS="200",
        PYTHONPATH=str(REPO),
    )
    return env


def test_ctrl_c_while_blocked_on_the_cloud_says_so_and_exits_130(tmp_path: Path) -> None:
    server = SilentServer()
    clouds = f"""\
clouds:
  hanging:
    auth:
      auth_url: http://127.0.0.1:{server.port}/v3
      username: alice
      password: not-a-secret-here
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    api_timeout: 300
"""
    env = cli_env(tmp_path, clouds)
    argv = ["check", "-e", "local", "-o", "cloud_provider=hanging"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scs_testbed", *argv],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Ready: the CLI has connected to the auth URL and waits for an answer that never comes.
        assert server.accepted.wait(120), "the CLI never connected to the cloud"
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
    assert proc.returncode == 130, err
    assert "interrupted by Ctrl-C: nothing was changed" in " ".join(err.split())
    assert "Traceback" not in out + err
    assert not (tmp_path / "state" / "testbeds").exists()  # no testbed was started


def _seed_testbed(tmp_path: Path) -> Path:
    workspace = tmp_path / "state" / "testbeds" / "tb"
    workspace.mkdir(parents=True)
    meta = workspace / "testbed.json"
    meta.write_text(json.dumps({**TESTBED, "state": "deployed"}), encoding="utf-8")
    return meta


def _read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    """Read from `fd` until `wanted` shows up (the readiness event) or time runs out."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"never saw {wanted!r}; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"output closed before {wanted!r}; got {seen!r}"
            seen += chunk
    return seen


@pytest.mark.parametrize("answer", [b"n\n", b"\x04"], ids=["answered-no", "end-of-input"])
def test_declined_destroy_destroys_nothing_and_is_not_an_interrupt(
    tmp_path: Path, answer: bytes
) -> None:
    env = cli_env(tmp_path)
    meta = _seed_testbed(tmp_path)
    before = meta.read_bytes()
    controller, terminal = pty.openpty()
    err_read, err_write = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scs_testbed", "destroy", "tb"],
        cwd=tmp_path,
        env=env,
        stdin=terminal,
        stdout=subprocess.DEVNULL,
        stderr=err_write,
    )
    os.close(terminal)
    os.close(err_write)
    try:
        shown = _read_until(err_read, b"[y/N]", 60)  # ready: the question is on the screen
        os.write(controller, answer)
        proc.wait(timeout=60)
        shown += _read_until(err_read, b"not confirmed", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
        os.close(err_read)
    text = shown.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "nothing destroyed: not confirmed" in text
    assert "interrupted" not in text
    assert meta.read_bytes() == before


def test_sigterm_during_apply_stops_terraform_records_interrupted_and_exits_143(
    tmp_path: Path,
) -> None:
    """A cancelled CI job sends SIGTERM: Terraform gets SIGINT and is waited for, no orphan."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pids = tmp_path / "tf.pids"
    terraform = bin_dir / "terraform"
    terraform.write_text(
        "#!/bin/bash\n"
        'case "$1" in\n'
        '  version) if [ "$2" = -json ]; then echo \'{"terraform_version":"1.9.0",'
        '"platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}\';'
        " else echo 'Terraform v1.9.0'; fi; exit 0;;\n"
        "  apply) echo $$ >> " + str(pids) + "\n"
        '    echo \'{"type":"apply_start","hook":{"resource":{"addr":"x.y"},"action":"create"}}\'\n'
        "    sleep 60 & echo $! >> " + str(pids) + "\n"
        "    trap 'kill $!; echo interrupted-by-sigint; exit 1' INT\n"
        "    wait $!; exit 0;;\n"
        "  *) exit 0;;\n"
        "esac\n"
    )
    terraform.chmod(0o755)
    env = cli_env(tmp_path)
    argv = ["deploy", "-e", "local", "-o", "cloud_provider=c", "--name", "tb", "--skip-check"]
    argv += ["--terraform", str(terraform)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scs_testbed", *argv],
        cwd=tmp_path,
        env={**env, "TF_PLUGIN_CACHE_DIR": str(tmp_path / "cache")},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and len(pids.read_text().split()) == 2):  # apply is running
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.2)  # let the stand-in install its trap
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in " ".join(err.split())
    assert "Traceback" not in out + err
    for pid in map(int, pids.read_text().split()):  # the stand-in and its child: no orphan
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    meta = json.loads((tmp_path / "state" / "testbeds" / "tb" / "testbed.json").read_text())
    assert meta["state"] == "interrupted"
