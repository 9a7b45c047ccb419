"""`env diff A B`: the merged values that differ, each with its source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scs_testbed.environment import Catalog, load_environment
from scs_testbed.environment_diff import diff_environments

REPO = Path(__file__).resolve().parents[2]


def catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "a.tfvars").write_text(
        '# provider a\ncloud_provider = "one"\nflavor_node = "SCS-8V-32"\nimage = "Ubuntu 24.04"\n'
    )
    (tmp_path / "b.tfvars").write_text(
        'cloud_provider = "two"\n\nimage = "Ubuntu 24.04"\nnumber_of_volumes = 0\n'
    )
    return Catalog.locate(tmp_path)


def test_only_differing_values_with_their_sources(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    a, b = load_environment("a", cat), load_environment("b", cat, ["flavor_manager=SCS-4V-8"])
    found = {d.key: d for d in diff_environments(a, b)}
    assert set(found) == {"cloud_provider", "flavor_node", "number_of_volumes", "flavor_manager"}
    assert (found["cloud_provider"].where_a, found["cloud_provider"].where_b) == (
        f"{a.location}:2",
        f"{b.location}:1",
    )
    assert found["flavor_node"].where_b == "module default"
    assert found["number_of_volumes"].value_b == 0 and found["number_of_volumes"].value_a == 3
    assert found["flavor_manager"].where_b == "-o flavor_manager"


def test_an_environment_is_identical_to_itself(tmp_path: Path) -> None:
    cat = catalog(tmp_path)
    assert diff_environments(load_environment("a", cat), load_environment("a", cat)) == []


def test_the_command_says_identical_and_gives_json(tmp_path: Path) -> None:
    catalog(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scs_testbed", "env", "diff", *args, "--env-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    same = run("a", "a")
    assert same.returncode == 0 and "identical merged variables" in same.stderr
    done = run("a", "b", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["identical"] is False
    row = next(d for d in answer["differences"] if d["variable"] == "cloud_provider")
    assert row["a"]["value"] == "one" and row["a"]["source"].endswith("a.tfvars:2")
    text = run("a", "b")
    assert "cloud_provider" in text.stdout and "module default" in text.stdout
