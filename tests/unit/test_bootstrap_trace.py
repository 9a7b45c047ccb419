"""The traceability file (bootstrap/reference.yaml) against the bootstrap scripts: every step
is traced to the reference, every path the bootstrap uses in the configuration repository is
listed, and the order of the configuration's scripts is the reference's."""

from __future__ import annotations

import re

import yaml

from tests.tiers import REPO

BOOTSTRAP = REPO / "bootstrap"
SCRIPT = (BOOTSTRAP / "manager" / "bootstrap.sh").read_text()
TRACE = yaml.safe_load((BOOTSTRAP / "reference.yaml").read_text())


def steps_in_script() -> list[tuple[str, str, str]]:
    block = re.search(r"^STEPS=\((.*?)^\)", SCRIPT, re.S | re.M)
    assert block
    return [tuple(row.split("|")) for row in re.findall(r'"([^"]+)"', block[1])]  # type: ignore[misc]


def scripts_in_script() -> dict[str, str]:
    block = re.search(r"^declare -A SCRIPTS=\((.*?)^\)", SCRIPT, re.S | re.M)
    assert block
    return dict(re.findall(r"\[([\w-]+)\]=(\S+)", block[1]))


def configuration_paths_used() -> set[str]:
    """Every path under $CONFIGURATION the bootstrap names, and every script it runs."""
    literal = set(re.findall(r"\$CONFIGURATION/([\w./-]+)", SCRIPT))
    literal -= {"scripts/", ".git"}  # the prefix of run_configuration_script; git metadata
    literal = {p for p in literal if not p.endswith("/")}
    return literal | {f"scripts/{path}" for path in scripts_in_script().values()}


def test_every_step_is_traced_in_order() -> None:
    assert [name for name, _, _ in steps_in_script()] == [s["name"] for s in TRACE["steps"]]


def test_every_mirrored_file_names_a_known_repository_and_commit() -> None:
    repositories = TRACE["repositories"]
    assert all(re.fullmatch(r"[0-9a-f]{40}", r["commit"]) for r in repositories.values())
    entries = TRACE["steps"] + TRACE["cloud_init"]
    for entry in entries:
        for mirror in entry.get("mirrors") or []:
            assert mirror["repo"] in repositories, entry
            assert mirror["path"] and str(mirror["lines"]), entry
        # a step without a reference file says why
        assert entry.get("mirrors") or entry.get("note") or "no reference" in entry["what"]


def test_every_configuration_path_the_bootstrap_calls_is_listed() -> None:
    listed = {p for s in TRACE["steps"] for p in s.get("configuration_paths") or []}
    used = configuration_paths_used()
    assert "inventory/host_vars/testbed-manager/vars.yml" in used
    assert used - listed == set()
    # and nothing is listed that the bootstrap does not use
    assert listed - used == set()


def test_script_steps_follow_the_reference_order_and_modes() -> None:
    steps = steps_in_script()
    scripts = scripts_in_script()
    ran = [(f"scripts/{scripts[name]}", mode) for name, mode, _ in steps if name in scripts]
    assert ran == [(e["script"], e["from_mode"]) for e in TRACE["script_order"]]
    for name, _, _ in steps:
        step = next(s for s in TRACE["steps"] if s["name"] == name)
        if name in scripts:
            assert step["configuration_paths"] == [f"scripts/{scripts[name]}"]


def test_every_external_source_is_a_module_variable() -> None:
    variables = (REPO / "terraform" / "variables.tf").read_text()
    sources = {
        part.strip()
        for s in TRACE["steps"]
        for source in s.get("sources") or []
        for part in source.split(",")
    }
    assert sources >= {"apt_mirror", "apt_proxy", "pypi_index_url", "configuration_repository"}
    for source in sources:
        assert f'variable "{source}"' in variables, source
    assert 'variable "container_registry_mirror"' in variables
