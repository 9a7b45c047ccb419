"""collect: the archive, its index, what is unreachable, and that no secret gets in."""

from __future__ import annotations

import json
import socket
import tarfile
from pathlib import Path
from typing import Any

import pytest

from scs_testbed import collect as core
from scs_testbed.errors import RemoteError
from scs_testbed.workspace import Workspace

SECRET = "planted-Secret-4711"  # the clouds.yaml password


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:  # bound then closed: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def testbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed_port: int) -> Workspace:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  gone:\n    auth:\n"
        f"      auth_url: http://127.0.0.1:{closed_port}/v3\n"
        f"      username: alice\n      password: {SECRET}\n      project_name: demo\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
        "    api_timeout: 5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    workspace = Workspace.named("cil-col")
    workspace.create()
    meta = {"name": "cil-col", "environment": "local", "cloud": "gone", "prefix": "cil-col"}
    workspace.write_meta({**meta, "state": "deployed"})
    outputs = {"manager_address": "127.0.0.1", "image_user": "debian", "node_addresses": []}
    workspace.write_private(workspace.outputs_file, json.dumps(outputs))
    return workspace


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_archive_holds_terraform_logs_and_an_index_of_what_was_unreachable(
    testbed: Workspace, tmp_path: Path
) -> None:
    testbed.log_dir.mkdir()
    event = {"type": "diagnostic", "@message": f"auth with password {SECRET} failed"}
    url = "https://alice:hunter2-in-url@keystone.example/v3"
    (testbed.log_dir / "20260101-apply.jsonl").write_text(json.dumps(event) + "\n" + url + "\n")
    result = core.collect(testbed, tmp_path / "out", ssh_timeout=2)
    assert result.archive.parent == tmp_path / "out"
    assert result.archive.name.startswith("cil-col-logs-") and result.archive.suffixes[-2:] == [
        ".tar",
        ".gz",
    ]
    assert result.archive.stat().st_mode & 0o777 == 0o600
    files = members(result.archive)
    blob = b"".join(files.values())
    assert SECRET.encode() not in blob and b"hunter2-in-url" not in blob
    assert b"***" in files["terraform/20260101-apply.jsonl"]
    index = json.loads(files["index.json"])
    by_path = {i["path"]: i for i in index["items"]}
    assert by_path["terraform/20260101-apply.jsonl"]["status"] == "ok"
    assert by_path["console/"]["status"] == "unreachable"
    assert by_path["status/cloud.json"]["status"] == "unreachable"
    assert by_path["hosts/"]["status"] == "unreachable"
    assert "no pinned host keys" in by_path["hosts/"]["reason"]
    assert json.loads(files["status/testbed.json"])["prefix"] == "cil-col"
    assert result.gathered == 1


def test_nothing_gathered_is_an_error_but_the_archive_is_written(
    testbed: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(RemoteError, match="nothing could be gathered") as raised:
        core.collect(testbed, tmp_path / "out")
    assert raised.value.exit_code == 5
    [archive] = (tmp_path / "out").glob("*.tar.gz")
    index = json.loads(members(archive)["index.json"])
    assert {i["path"] for i in index["items"]} >= {"terraform/", "console/", "hosts/"}


class FakeConnection:
    """Answers like Connection.run: (exit status, stdout, stderr) by remote path."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]):
        self.answers = answers

    def run(self, command: str, timeout: float = 60) -> tuple[int, str, str]:
        for key, answer in self.answers.items():
            if key in command:
                return answer
        raise OSError("connection reset")


def test_remote_items_ok_missing_failed_unreachable_and_redacted() -> None:
    from scs_testbed.redact import remember_secret

    remember_secret(SECRET)
    archive = core._Archive()
    conn: Any = FakeConnection(
        {
            "progress.jsonl": (0, '{"step":"docker","state":"failed"}\n', ""),
            "bootstrap.log": (0, f"token {SECRET}\n", ""),
            "cloud-init.log": (3, "", "No such file\n"),
            "docker ps": (1, "", "permission denied (Docker daemon)\n"),
        }
    )
    for name, path, _ in core.REMOTE_FILES["manager"]:
        core._remote_item(conn, f"hosts/manager/{name}", path, core._read_command(path), 5, archive)
    core._remote_item(conn, "hosts/manager/docker-ps.txt", "docker", "docker ps -a", 5, archive)
    status = {i.path.rsplit("/", 1)[1]: i.status for i in archive.items}
    assert status == {
        "progress.jsonl": "ok",
        "bootstrap.log": "ok",
        "cloud-init.log": "missing",
        "cloud-init-output.log": "unreachable",  # the fake's connection reset
        "cloud-init-result.json": "unreachable",
        "cloud-init-data-result.json": "unreachable",
        "docker-ps.txt": "failed",
    }
    assert archive.files["hosts/manager/bootstrap.log"] == b"token ***\n"
    failed = next(i for i in archive.items if i.status == "failed")
    assert failed.reason.startswith("exit 1: permission denied")


def test_read_command_quotes_the_path() -> None:
    command = core._read_command("/var/log/a b;rm -rf x")
    assert "'/var/log/a b;rm -rf x'" in command and "sudo -n tail" in command
