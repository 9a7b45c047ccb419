"""Parsed HCL is kept in the user's cache directory (parse_cache): the testbed module's
variables and the environments' tfvars give the same answer as a fresh parse, a new parse when
the file changes or the cache is damaged, and an error is never cached."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scs_testbed import module_variables as mv
from scs_testbed.environment_files import TfvarsSyntaxError, parse_tfvars
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


ENVIRONMENTS = sorted((Path(__file__).resolve().parents[2] / "environments").glob("*.tfvars"))


@pytest.mark.parametrize("source", ENVIRONMENTS, ids=lambda p: p.stem)
def test_cached_tfvars_equal_a_fresh_parse(source: Path, module: Path) -> None:
    copy = module / source.name
    shutil.copy(source, copy)
    fresh = parse_tfvars(copy)
    assert list((module.parent / "cache" / "scs-testbed").glob("tfvars-*.json"))
    assert parse_tfvars(copy) == fresh  # from the cache: values and key lines alike


def test_a_changed_tfvars_is_parsed_anew_and_errors_are_not_cached(module: Path) -> None:
    path = module / "mine.tfvars"
    path.write_text('image = "Ubuntu 24.04"\nnumber_of_nodes = 3\n')
    assert parse_tfvars(path)[0] == {"image": "Ubuntu 24.04", "number_of_nodes": 3}
    path.write_text('image = "Ubuntu 24.04"\nnumber_of_nodes = 3.5\n')
    assert parse_tfvars(path)[0]["number_of_nodes"] == 3.5
    path.write_text('image = "Ubuntu 24.04\n')
    for _ in range(2):  # the second time is not answered from a cache either
        with pytest.raises(TfvarsSyntaxError, match=r"mine\.tfvars:1"):
            parse_tfvars(path)


def test_a_damaged_tfvars_cache_is_parsed_anew(module: Path) -> None:
    path = module / "mine.tfvars"
    path.write_text('flavor_node = "SCS-8V-32"\n')
    expected = parse_tfvars(path)
    for cached in (module.parent / "cache" / "scs-testbed").glob("tfvars-*.json"):
        cached.write_text("{")
    assert parse_tfvars(path) == expected
