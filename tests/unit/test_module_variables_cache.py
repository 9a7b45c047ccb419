"""The parsed variables of the testbed module are kept in the user's cache directory: the
same answer as a fresh parse, a new parse when the file changes or the cache is damaged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scs_testbed import module_variables as mv
from scs_testbed.resources import module_dir

pytestmark = pytest.mark.unit


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "module"
    copy.mkdir()
    shutil.copy(module_dir() / "variables.tf", copy / "variables.tf")
    mv.module_variables.cache_clear()
    yield copy
    mv.module_variables.cache_clear()


def cached_files(module: Path) -> list[Path]:
    return sorted((module.parent / "cache" / "scs-testbed").glob("module-variables-*.json"))


def test_cached_variables_equal_a_fresh_parse(module: Path) -> None:
    first = mv.module_variables(module)
    assert len(cached_files(module)) == 1
    mv.module_variables.cache_clear()
    again = mv.module_variables(module)
    fresh = mv._parse_variables((module / "variables.tf").read_text())
    assert first == again == fresh
    assert any(v.required for v in fresh.values()) and any(not v.required for v in fresh.values())


def test_a_changed_file_is_parsed_anew(module: Path) -> None:
    mv.module_variables(module)
    path = module / "variables.tf"
    path.write_text(
        path.read_text() + '\nvariable "extra_one" {\n  type = number\n  default = 7\n}\n'
    )
    mv.module_variables.cache_clear()
    variables = mv.module_variables(module)
    assert variables["extra_one"].default == 7
    assert len(cached_files(module)) == 2


def test_a_damaged_cache_is_parsed_anew(module: Path) -> None:
    expected = mv.module_variables(module)
    (cached,) = cached_files(module)
    cached.write_text("[{")
    mv.module_variables.cache_clear()
    assert mv.module_variables(module) == expected
