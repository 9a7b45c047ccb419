"""A testbed's records: one validating reader, atomic private writes, a private state tree."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from scs_testbed import runner
from scs_testbed.errors import InputError
from scs_testbed.state_dir import DamagedRecord, write_atomic
from scs_testbed.testbed import list_testbeds
from scs_testbed.workspace import Workspace, find_workspace, read_state_resources

META = {"name": "tb", "environment": "local", "cloud": "c", "prefix": "tb", "state": "new"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(root))
    return root


def seeded(name: str = "tb", meta: object = None) -> Workspace:
    ws = Workspace.named(name)
    ws.create()
    ws.write_meta(dict(META, name=name) if meta is None else meta)  # type: ignore[arg-type]
    return ws


# --------------------------------------------------------------------------- modes (class 13)


def test_create_makes_the_whole_tree_private_and_tightens_old_dirs(state: Path) -> None:
    (state / "testbeds").mkdir(parents=True, mode=0o755)
    os.chmod(state, 0o755)
    os.chmod(state / "testbeds", 0o755)
    Workspace.named("tb").create()
    for path in (state, state / "testbeds", state / "testbeds" / "tb"):
        assert mode(path) == 0o700, path


@pytest.mark.parametrize("how", ["run", "stream"])
def test_terraform_umask_keeps_its_files_private(tmp_path: Path, how: str) -> None:
    argv = ["sh", "-c", "echo '{}' > terraform.tfstate"]
    if how == "run":
        assert runner.run(argv, cwd=tmp_path, umask=runner.PRIVATE_UMASK).ok
    else:
        assert runner.stream(argv, lambda _: None, cwd=tmp_path, umask=runner.PRIVATE_UMASK) == 0
    assert mode(tmp_path / "terraform.tfstate") == 0o600


def test_other_children_keep_the_inherited_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert runner.run(["sh", "-c", "touch shared"], cwd=tmp_path).ok
    finally:
        os.umask(old)
    assert mode(tmp_path / "shared") == 0o644


# --------------------------------------------------------------------------- reader (class 3)

DAMAGE = [
    ("garbage{", "is not valid JSON"),
    ("[1, 2]", "holds a JSON array, not an object"),
    ('"text"', "holds a JSON string, not an object"),
    ("", "is empty"),
    ('{"name": "tb"}', "lacks environment, cloud, prefix"),
    ('{"environment": "e", "cloud": 5, "prefix": "p"}', "has a number for cloud, not a string"),
]


@pytest.mark.parametrize(("content", "problem"), DAMAGE)
def test_damaged_record_names_file_problem_and_way_out(
    state: Path, content: str, problem: str
) -> None:
    ws = seeded()
    ws.meta_file.write_text(content)
    with pytest.raises(DamagedRecord) as caught:
        ws.read_meta("environment", "cloud", "prefix")
    assert caught.value.exit_code == 2
    assert problem in caught.value.message
    assert str(ws.meta_file) in caught.value.message
    assert caught.value.hint and str(ws.path) in caught.value.hint


def test_binary_directory_and_fifo_are_damage_not_a_hang(state: Path) -> None:
    ws = seeded()
    ws.meta_file.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DamagedRecord, match="not text"):
        ws.read_meta()
    ws.meta_file.unlink()
    ws.meta_file.mkdir()
    with pytest.raises(DamagedRecord, match="is a directory"):
        ws.read_meta()
    os.mkfifo(ws.outputs_file)
    with pytest.raises(DamagedRecord, match="not a regular file"):
        ws.read_outputs()


def test_outputs_are_checked_inside_too(state: Path) -> None:
    ws = seeded()
    good = {"manager_address": "203.0.113.7", "image_user": "ubuntu"}
    write_atomic(ws.outputs_file, json.dumps(good))
    assert ws.read_outputs() == good
    write_atomic(ws.outputs_file, json.dumps({**good, "servers": {"nodes": "n0"}}))
    with pytest.raises(DamagedRecord, match="server IDs"):
        ws.read_outputs()


def test_terraform_state_shapes(tmp_path: Path) -> None:
    path = tmp_path / "terraform.tfstate"
    assert read_state_resources(path) == []  # no state yet
    path.write_text("")  # Terraform leaves an empty file when it never wrote a state
    assert read_state_resources(path) == []
    path.write_text(
        json.dumps(
            {
                "version": 4,
                "resources": [
                    {"mode": "managed", "instances": [{}]},
                    {"mode": "data", "instances": [{}]},
                ],
            }
        )
    )
    assert len(read_state_resources(path)) == 1
    for garbage, problem in (
        ('{"version": 4, "resources": {}}', "has an object for resources, not an array"),
        ('{"version": 4, "resources": [7]}', "not a Terraform resource"),
        ("null", "holds a JSON null"),
    ):
        path.write_text(garbage)
        with pytest.raises(DamagedRecord, match=problem):
            read_state_resources(path)


def test_list_shows_the_others_and_marks_the_damaged_one(state: Path) -> None:
    seeded("good")
    seeded("bad").meta_file.write_text("[]")
    broken = seeded("broken")
    broken.state_file.write_text("{")
    rows = {row["name"]: row for row in list_testbeds()}
    assert rows["good"]["damaged"] is None and rows["good"]["environment"] == "local"
    assert rows["bad"]["state"] == "damaged"
    assert rows["bad"]["damaged"].startswith("testbed.json holds a JSON array")
    assert rows["broken"]["damaged"].startswith("terraform.tfstate is not valid JSON")
    assert "terraform.tfstate.backup" in rows["broken"]["hint"]


def test_find_workspace_checks_the_record_and_skips_damage_when_filtering(state: Path) -> None:
    seeded("good")
    seeded("bad").meta_file.write_text("{")
    with pytest.raises(DamagedRecord):
        find_workspace("bad")
    assert find_workspace(None, "local").name == "good"
    with pytest.raises(InputError, match="several testbeds"):
        find_workspace(None)
