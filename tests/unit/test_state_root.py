"""A state directory that cannot be one is said so (exit 2); the crash log copes, stays private."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from scs_testbed.cli import application as cli
from scs_testbed.errors import InputError
from scs_testbed.testbed import list_testbeds
from scs_testbed.workspace import Workspace


def test_list_says_the_state_directory_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state").write_text("x")
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(InputError, match=r"state directory .* is a file") as caught:
        list_testbeds()
    assert "SCS_TESTBED_STATE_DIR" in (caught.value.hint or "")


def test_a_state_root_under_a_file_is_refused_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "file" / "state"))
    with pytest.raises(InputError, match=r"its parent .*file is a file"):
        Workspace.named("tb").create()


def test_missing_parents_of_the_state_root_are_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "a" / "b" / "state"))
    Workspace.named("tb").create()
    for directory in ("a", "a/b", "a/b/state", "a/b/state/testbeds"):
        assert stat.S_IMODE((tmp_path / directory).stat().st_mode) == 0o700, directory


def test_the_crash_log_falls_back_to_a_private_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state").write_text("x")
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    path = Path(cli._write_crash_log("Traceback: boom\n"))
    assert path.parent == tmp_path / "tmp" and path.read_text() == "Traceback: boom\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_crash_log_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "new" / "state"))
    path = Path(cli._write_crash_log("one\n"))
    os.chmod(path, 0o644)
    cli._write_crash_log("two\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "one\ntwo\n"
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert sys.modules["scs_testbed.cli.application"] is cli
