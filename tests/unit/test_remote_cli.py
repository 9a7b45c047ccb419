"""Argument handling of the access commands (the remote side is replaced by stand-ins)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scs_testbed.cli import app
from scs_testbed.remote import console
from scs_testbed.workspace import Workspace


@pytest.fixture
def testbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path))
    ws = Workspace.named("tb")
    ws.create()
    ws.write_meta({"name": "tb", "cloud": "mycloud"})
    ws.write_private(
        ws.outputs_file,
        json.dumps(
            {
                "manager_address": "203.0.113.7",
                "node_addresses": ["192.168.16.10"],
                "image_user": "ubuntu",
                "servers": {"manager": "m-id", "nodes": ["n0-id"]},
            }
        ),
    )
    return ws


@pytest.mark.parametrize(
    ("args", "server"),
    [([], "m-id"), (["node-0"], "n0-id"), (["tb"], "m-id"), (["tb", "node-0"], "n0-id")],
)
def test_console_takes_name_and_host_in_either_form(testbed, monkeypatch, args, server) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(console, "open_cloud", lambda cloud: cloud)
    monkeypatch.setattr(
        console, "console_log", lambda cloud, sid, lines: seen.append((cloud, sid)) or "boot ok"
    )
    result = CliRunner().invoke(app, ["console", *args])
    assert result.exit_code == 0, result.output
    assert seen == [("mycloud", server)]
    assert "boot ok" in result.output


def test_console_rejects_an_unknown_host(testbed) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["console", "tb", "node-3"])
    assert result.exit_code != 0


def test_tunnel_stop_without_a_tunnel(testbed) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["tunnel", "--stop"])
    assert result.exit_code == 0
