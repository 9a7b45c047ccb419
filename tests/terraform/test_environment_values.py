"""What load_environment gives is exactly what Terraform evaluates from the same file.

The workspace gets the values as terraform.tfvars.json, whose strings Terraform takes
literally; so every tricky form of a tfvars file (heredocs, `$${` / `%%{` escapes, string
escapes, a BOM, CRLF lines, numbers written oddly) must come out of our parser as Terraform's
own evaluation of that file. Terraform evaluates each file here through the module's real
variables.tf (types and validation included), with one output per variable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scs_testbed.environment import Catalog, load_environment
from scs_testbed.resources import builtin_env_dir, module_dir
from tests.terraform.conftest import RunTerraform

FILES: dict[str, str] = {
    "heredocs": (
        'cloud_provider = "c"\n'
        "image = <<EOT\nUbuntu\n  24.04 $${not_a_var} %%{not_a_directive} \\n stays\nEOT\n"
        "image_node = <<-EOT\n\t\tDebian\n\n\t\t  12\n\t     \n\t\tEOT\n"
        "flavor_node = <<EOT\nEOT\n"
    ),
    "escapes": (
        'cloud_provider = "esc $${foo} %%{bar} $ $$ % %%"\n'
        'image = "tab\\tq\\"uote\\\\ back \\u00e9 \\U0001F600"\n'
        'flavor_manager = ("in parentheses")\n'
        'image_user = "C:/not\\\\escaped"\n'
        "number_of_nodes = 3.0e0\n"
        'volume_size_base = "4e1"\n'
        'dns_nameservers = ["192.0.2.1", "198.51.100.2"]\n'
    ),
    "bom-crlf": ('\ufeff# header\r\ncloud_provider = "bom"\r\nimage = <<EOT\r\nwith CR\r\nEOT\r\n'),
}


def evaluated_by_terraform(
    run_terraform: RunTerraform, scratch: Path, tfvars: Path, keys: list[str]
) -> dict[str, object]:
    scratch.mkdir()
    shutil.copy(module_dir() / "variables.tf", scratch / "variables.tf")
    outputs = {key: {"value": f"${{var.{key}}}"} for key in keys}
    (scratch / "outputs.tf.json").write_text(json.dumps({"output": outputs}))
    run_terraform("init", "-input=false", "-backend=false", cwd=scratch)
    run_terraform("apply", "-auto-approve", "-input=false", f"-var-file={tfvars}", cwd=scratch)
    done = run_terraform("output", "-json", cwd=scratch)
    return {key: item["value"] for key, item in json.loads(done.stdout).items()}


@pytest.mark.parametrize("name", sorted(FILES))
def test_loaded_values_equal_terraforms_evaluation(
    name: str, tmp_path: Path, run_terraform: RunTerraform
) -> None:
    envs = tmp_path / "envs"
    envs.mkdir()
    tfvars = envs / f"{name}.tfvars"
    tfvars.write_bytes(FILES[name].encode())  # no newline translation
    env = load_environment(name, Catalog(envs, builtin_env_dir()))
    keys = sorted(env.file_values)
    assert len(keys) >= 2
    ours = {key: env.values[key] for key in keys}
    theirs = evaluated_by_terraform(run_terraform, tmp_path / "tf", tfvars, keys)
    assert ours == theirs
