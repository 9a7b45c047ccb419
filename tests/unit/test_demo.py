"""The demo's steps: their order, the teardown in `finally` (a failing step still destroys)."""

from __future__ import annotations

import pytest

from scs_testbed import demo as demo_module
from scs_testbed.demo import BOOTING, TERRAFORM_ONLY, Demo, DemoStepFailed, run_demo
from scs_testbed.errors import EXIT_PREFLIGHT, EXIT_REMOTE, EXIT_TERRAFORM

pytestmark = pytest.mark.unit


class Commands:
    """Records the commands the demo runs; `codes` says what a command (by its words) exits."""

    def __init__(self, **codes: int) -> None:
        self.codes = codes
        self.ran: list[str] = []

    def __call__(self, argv: list[str]) -> int:
        words = argv[3:]  # after python -m scs_testbed
        key = words[0] if words[0] != "ssh" else f"ssh-{words[3]}-{words[-1].split()[0]}"
        key = "tunnel-stop" if words[-1] == "--stop" else key
        self.ran.append(key)
        return self.codes.get(key.replace("-", "_"), 0)


def a_demo(commands: Commands, tmp_path, monkeypatch) -> Demo:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("manager ssh-ed25519 AAAA\nnode-1 ssh-ed25519 BBBB\n")

    class Workspace:
        pass

    ws = Workspace()
    ws.known_hosts = known_hosts  # type: ignore[attr-defined]
    monkeypatch.setattr("scs_testbed.workspace.find_workspace", lambda name: ws)
    said: list[str] = []
    return Demo("d1", say=said.append, run=commands, fetch=lambda url: b"<html>listing</html>")


def test_the_whole_flow_runs_in_order_and_destroys_at_the_end(tmp_path, monkeypatch):
    commands = Commands(watch=EXIT_REMOTE)  # the bootstrap stops where it needs the internet
    seen = run_demo(a_demo(commands, tmp_path, monkeypatch))
    assert commands.ran == [
        "check", "deploy", "ssh-manager-hostname", "ssh-node-1-hostname", "watch",
        "ssh-node-1-nohup", "tunnel", "tunnel-stop", "destroy",
    ]  # fmt: skip
    assert [r["step"] for r in seen["steps"]] == [s.name for s in BOOTING]
    assert all(r["status"] == "passed" for r in seen["steps"])
    assert seen["codes"]["watch"] == EXIT_REMOTE
    assert seen["http_bytes"] == len(b"<html>listing</html>")


@pytest.mark.parametrize(
    ("failing", "code", "exit_code", "ran_before_teardown"),
    [
        ("deploy", 4, EXIT_TERRAFORM, ["check", "deploy"]),
        ("watch", 1, EXIT_REMOTE, ["check", "deploy", "ssh-manager-hostname",
                                  "ssh-node-1-hostname", "watch"]),
        ("tunnel", 5, EXIT_REMOTE, ["check", "deploy", "ssh-manager-hostname",
                                   "ssh-node-1-hostname", "watch", "ssh-node-1-nohup", "tunnel"]),
    ],
)  # fmt: skip
def test_a_failing_step_still_stops_the_tunnel_and_destroys(
    tmp_path, monkeypatch, failing, code, exit_code, ran_before_teardown
):
    commands = Commands(**{failing: code})
    with pytest.raises(DemoStepFailed) as raised:
        run_demo(a_demo(commands, tmp_path, monkeypatch))
    assert raised.value.exit_code == exit_code
    assert failing in raised.value.message
    assert commands.ran == [*ran_before_teardown, "tunnel-stop", "destroy"]


def test_a_failing_check_creates_nothing_so_nothing_is_destroyed(tmp_path, monkeypatch):
    commands = Commands(check=EXIT_PREFLIGHT)
    with pytest.raises(DemoStepFailed) as raised:
        run_demo(a_demo(commands, tmp_path, monkeypatch))
    assert raised.value.exit_code == EXIT_PREFLIGHT
    assert commands.ran == ["check"]


def test_no_bytes_through_the_tunnel_fails_the_demo_and_destroys(tmp_path, monkeypatch):
    commands = Commands()
    demo = a_demo(commands, tmp_path, monkeypatch)
    demo.fetch = lambda url: b""
    with pytest.raises(demo_module.RemoteError, match="no bytes"):
        run_demo(demo)
    assert commands.ran[-2:] == ["tunnel-stop", "destroy"]


def test_ctrl_c_in_a_step_still_destroys(tmp_path, monkeypatch):
    commands = Commands()

    def interrupted_watch(argv: list[str]) -> int:
        if argv[3] == "watch":
            raise KeyboardInterrupt
        return commands(argv)

    demo = a_demo(commands, tmp_path, monkeypatch)
    demo.run = interrupted_watch
    with pytest.raises(KeyboardInterrupt):
        run_demo(demo)
    assert commands.ran[-2:] == ["tunnel-stop", "destroy"]


def test_without_booting_servers_it_is_the_terraform_side(tmp_path, monkeypatch):
    commands = Commands()
    seen = run_demo(a_demo(commands, tmp_path, monkeypatch), boots=False)
    assert commands.ran == ["check", "deploy", "status", "destroy"]
    assert [r["step"] for r in seen["steps"]] == [s.name for s in TERRAFORM_ONLY]
