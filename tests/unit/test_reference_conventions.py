"""Environment files in the reference's conventions (osism/testbed): header comments, no
cloud_provider, the reference's own variables. The corpus in reference_corpus/ is ours,
written in those conventions; the CLI is run on it as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scs_testbed.environment import (
    Catalog,
    EnvironmentProblems,
    load_environment,
    module_variables,
)
from scs_testbed.reference_conventions import (
    HANDLED,
    REFERENCE_VARIABLES,
    VARIANTS,
    find_directives,
)
from scs_testbed.resources import builtin_env_dir

CORPUS = Path(__file__).parent / "reference_corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1", PYTHONPATH=str(REPO))
    env.pop("SCS_TESTBED_ENV_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_corpus_is_complete() -> None:
    assert sorted(EXPECTED["good"]) == sorted(p.stem for p in (CORPUS / "good").glob("*.tfvars"))
    assert sorted(EXPECTED["bad"]) == sorted(p.stem for p in (CORPUS / "bad").glob("*.tfvars"))
    used = {
        line.split(":", 1)[1].split()[0]
        for path in CORPUS.glob("*/*.tfvars")
        for line in path.read_text().splitlines()
        if line.startswith(("# override:", "# customisation:")) and line.split(":", 1)[1].split()
    }
    # every override and customisation the reference knows appears in some file
    assert {name for _, name in VARIANTS} <= used


@pytest.mark.parametrize("name", sorted(EXPECTED["good"]))
def test_env_show_gives_the_reference_values_with_their_sources(name: str, tmp_path: Path) -> None:
    expected: dict[str, Any] = EXPECTED["good"][name]
    done = cli("env", "show", name, "--env-dir", str(CORPUS / "good"), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    variables = shown["variables"]
    for key, value in expected["values"].items():
        assert variables[key]["value"] == value, (key, variables[key])
    for key, fragment in expected.get("where", {}).items():
        assert fragment in variables[key]["where"], (key, variables[key])
    translated = {k: t["value"] for k, t in shown["reference"]["translated"].items()}
    assert translated == expected.get("translated", {})
    warnings = shown["reference"]["warnings"]
    assert len(warnings) == len(expected.get("warnings", []))
    for fragment in expected.get("warnings", []):
        assert any(fragment in w for w in warnings), warnings
    directives = shown["reference"]["directives"]
    assert shown["reference"]["follows_reference"] is bool(directives)
    assert all(d["meaning"] for d in directives)


def test_env_validate_accepts_the_good_files(tmp_path: Path) -> None:
    done = cli(
        "env", "validate", "--all", "--env-dir", str(CORPUS / "good"), "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["name"]: r for r in json.loads(done.stdout)}
    for name in EXPECTED["good"]:
        assert results[name]["problems"] == [], results[name]
    assert any("is_zuul = true" in w for w in results["zuul"]["warnings"])


def test_env_validate_refuses_the_bad_files_with_file_and_line(tmp_path: Path) -> None:
    names = sorted(EXPECTED["bad"])
    done = cli("env", "validate", *names, "--env-dir", str(CORPUS / "bad"), "--json", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    results = {r["name"]: r for r in json.loads(done.stdout)}
    for name in names:
        expected = EXPECTED["bad"][name]
        problems = results[name]["problems"]
        assert len(problems) == 1, problems
        where = f"{CORPUS / 'bad' / name}.tfvars:{expected['line']}: "
        assert problems[0].startswith(where), (where, problems)
        assert expected["message"] in problems[0], problems


def test_an_unknown_override_exits_2_naming_the_line_and_the_known_ones(tmp_path: Path) -> None:
    done = cli("env", "show", "unknown", "--env-dir", str(CORPUS / "bad"), cwd=tmp_path)
    assert done.returncode == 2
    text = " ".join((done.stdout + done.stderr).split())
    assert "unknown.tfvars:4: # override:manager_boot_from_floppy" in text
    assert "Known overrides: manager_boot_from_image, manager_boot_from_volume" in text
    assert "Traceback" not in text


def test_env_show_says_what_each_comment_means(tmp_path: Path) -> None:
    done = cli("env", "show", "api", "--env-dir", str(CORPUS / "good"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "reference conventions (osism/testbed)" in done.stdout
    assert "# customisation:external_api" in done.stdout
    assert "external_api = true (the OpenStack API ports open on the manager)" in done.stdout
    assert "built in: the manager is reached through its floating IP" in done.stdout
    zuul = cli("env", "show", "zuul", "--env-dir", str(CORPUS / "good"), cwd=tmp_path)
    assert "warning:" in zuul.stderr and "is_zuul = true" in zuul.stderr
    assert "reference CI switch (Zuul)" in zuul.stdout


def test_env_diff_compares_a_reference_file_with_the_builtin(tmp_path: Path) -> None:
    """A reference-style copy of a cloud next to our built-in of the same cloud, even when a
    file of the user shadows the built-in's name."""
    mine = tmp_path / "environments"
    mine.mkdir()
    (mine / "regiocloud.tfvars").write_text('cloud_provider = "shadow"\n')
    reference = tmp_path / "ref" / "regiocloud.tfvars"
    reference.parent.mkdir()
    reference.write_text((CORPUS / "good" / "volumes.tfvars").read_text())
    done = cli("env", "diff", str(reference), "builtin:regiocloud", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["b"]["path"].endswith("environments/regiocloud.tfvars")
    assert Path(answer["b"]["path"]).parent == builtin_env_dir()
    rows = {d["variable"]: d for d in answer["differences"]}
    assert "cloud_provider" not in rows  # both: regiocloud (one by the file's name)
    assert rows["number_of_nodes"]["a"]["value"] == 6
    assert "reference default" in rows["number_of_nodes"]["a"]["source"]
    assert rows["number_of_nodes"]["b"] == {"value": 3, "source": "module default"}
    assert "manager_boot_from_volume" not in rows  # both boot from volume
    bad = cli("env", "diff", str(reference), "builtin:nowhere", cwd=tmp_path)
    assert bad.returncode == 2 and "no built-in environment 'nowhere'" in bad.stderr


# --------------------------------------------------------------------------- the tables


def test_every_override_and_customisation_of_the_reference_is_known() -> None:
    # osism/terraform-base a4e86b2a testbed-default/overrides/*_override.tf and
    # testbed-default/customisations/*_custom.tf
    assert {name for kind, name in VARIANTS if kind == "override"} == {
        "manager_boot_from_image",
        "manager_boot_from_volume",
        "neutron_availability_zone_hints_network",
        "neutron_availability_zone_hints_router",
        "neutron_router_enable_snat",
        "nodes_boot_from_image",
        "nodes_boot_from_volume",
        "nodes_use_ephemeral_storage",
    }
    assert {name for kind, name in VARIANTS if kind == "customisation"} == {
        "access_floatingip",
        "access_ipv4",
        "access_ipv6",
        "default",
        "external_api",
        "neutron_floatingip",
    }
    declared = module_variables()
    for variant in VARIANTS.values():
        assert set(variant.sets) <= set(declared), variant
        assert variant.meaning


def test_every_variable_of_the_reference_means_the_same_or_is_handled() -> None:
    """The 30 variables of osism/terraform-base a4e86b2a testbed-default/variables.tf."""
    names = [v.name for v in REFERENCE_VARIABLES]
    assert len(names) == len(set(names)) == 30
    declared = module_variables()
    for variable in REFERENCE_VARIABLES:
        if variable.here.startswith("same"):
            assert variable.name in declared, variable
        else:
            assert variable.name in HANDLED or variable.name in declared, variable
    assert set(names) >= HANDLED


@pytest.mark.parametrize(
    ("line", "found", "warned"),
    [
        ("# override:manager_boot_from_volume", ["manager_boot_from_volume"], False),
        ("#override:manager_boot_from_volume", ["manager_boot_from_volume"], False),
        ("#   override:  a b", ["a", "b"], False),
        ("# customisation:default", ["default"], False),
        ("# override:", [], False),
        # not read by the reference's Makefile (grep '^# *override:'): warned, not applied
        ("  # override:x", [], True),
        ("## override:x", [], True),
        ("# Override:x", [], True),
        ("// override:x", [], True),
        ("# customization:x", [], True),
        # prose that merely mentions an override
        ("# reference: override manager/nodes_boot_from_volume", [], False),
    ],
)
def test_directives_are_found_as_the_reference_finds_them(
    line: str, found: list[str], warned: bool
) -> None:
    directives, near_misses = find_directives(f'{line}\r\nimage = "x"\r\n', "f.tfvars")
    assert [d.name for d in directives] == found
    assert all(d.line == 1 for d in directives)
    assert bool(near_misses) == warned
    assert all(w.startswith("f.tfvars:1: ") for w in near_misses)


def test_overrides_reach_terraform_even_when_the_file_has_problems(tmp_path: Path) -> None:
    """A file with problems: -o and the derived values are still known (for the judge)."""
    (tmp_path / "x.tfvars").write_text('flavour_node = "typo"\n')
    with pytest.raises(EnvironmentProblems) as caught:
        load_environment("x", Catalog(tmp_path, builtin_env_dir()), ["number_of_nodes=4"])
    assert caught.value.judge_values["number_of_nodes"] == (4, "-o number_of_nodes")
    assert caught.value.judge_values["cloud_provider"][0] == "x"
    assert "did you mean flavor_node" in caught.value.details[0]


def test_builtins_keep_their_own_defaults(tmp_path: Path) -> None:
    """Files without directives (ours) keep our semantics: hints from the value, 3 nodes."""
    env = load_environment("regiocloud", Catalog(None, builtin_env_dir()))
    assert not env.reference.follows_reference
    assert env.values["number_of_nodes"] == 3
    assert env.values["network_availability_zone"] == "nova"
    assert env.where("cloud_provider").endswith("regiocloud.tfvars:6")
