"""The private state tree: a private root, private files replaced atomically or appended to."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scs_testbed.state_dir import ensure_state_root, private_file_for_append, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_state_root_creates_it_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(state))
    assert ensure_state_root() == state
    assert mode(state) == 0o700


def test_records_are_private_and_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "testbed.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["testbed.json"]  # no temp file left


def test_a_failed_write_keeps_the_old_record(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "testbed.json"
    target.write_text("old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["testbed.json"]


def test_append_file_is_private_even_when_it_was_wider(tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    log.write_text("earlier\n")
    os.chmod(log, 0o644)
    with private_file_for_append(log) as out:
        out.write("traceback\n")
    assert log.read_text() == "earlier\ntraceback\n"
    assert mode(log) == 0o600
    fresh = tmp_path / "fresh.log"
    with private_file_for_append(fresh) as out:
        out.write("x")
    assert mode(fresh) == 0o600
