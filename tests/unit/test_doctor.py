"""`doctor`: each prerequisite one line (ok / warning / problem), what was found, what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scs_testbed import doctor
from tests.unit.test_terraform_binary import fake_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine of its own: home, state dir, no clouds.yaml, no CLI config, no remote state."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SCS_TESTBED_REMOTE_STATE_CONFIG", str(tmp_path / "remote.json"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    for name in ("TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "SCS_TESTBED_TERRAFORM"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "clouds.yaml").write_text(
        "clouds:\n  demo:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
        "      username: u\n      password: p\n      project_name: p\n"
    )
    return tmp_path


def by_check(report: doctor.Report) -> dict[str, doctor.Finding]:
    return {f.check: f for f in report.findings}


def unreachable(host: str, port: int) -> bool:
    return False


def mirror_rc(machine: Path, host: str) -> Path:
    mirror = machine / "mirror"
    (mirror / host / doctor.PROVIDER / "3.0.0" / "linux_amd64").mkdir(parents=True)
    rc = machine / "terraformrc"
    rc.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    return rc


def test_all_fine_with_a_mirrored_provider(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tofu = fake_cli(machine, "OpenTofu", "1.10.7")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(mirror_rc(machine, "registry.opentofu.org")))
    report = doctor.run_doctor(str(tofu), reachable=unreachable)
    found = by_check(report)
    assert found["OpenTofu/Terraform"].found.startswith("OpenTofu 1.10.7")
    assert found["OpenStack provider"].status == "ok"
    assert "mirrored for registry.opentofu.org" in found["OpenStack provider"].found
    assert found["clouds.yaml"].status == "ok" and "demo" in found["clouds.yaml"].found
    assert found["remote state"].found.startswith("local")
    assert report.ok, [f for f in report.findings if f.status == "problem"]


def test_a_missing_tool_is_a_problem_with_what_to_do(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(machine / "empty-bin"))
    report = doctor.run_doctor(reachable=unreachable)
    found = by_check(report)
    assert not report.ok
    assert found["OpenTofu/Terraform"].status == "problem"
    assert "neither `tofu` nor `terraform` is on PATH" in found["OpenTofu/Terraform"].found
    assert "install OpenTofu" in found["OpenTofu/Terraform"].todo
    assert found["ssh client"].status == "problem"
    assert "openssh-client" in found["ssh client"].todo
    assert found["sshuttle"].status == "warning"  # only the tunnel needs it


def test_an_old_terraform_is_a_problem(machine: Path) -> None:
    old = fake_cli(machine, "Terraform", "1.5.7")
    finding = by_check(doctor.run_doctor(str(old), reachable=unreachable))["OpenTofu/Terraform"]
    assert finding.status == "problem"
    assert "is Terraform 1.5.7; scs-testbed needs OpenTofu (>= 1.6) or Terraform (>= 1.6)" in (
        finding.found
    )
    assert finding.todo.startswith("upgrade it")


def test_a_broken_clouds_yaml_is_named(machine: Path) -> None:
    (machine / "clouds.yaml").write_text("clouds:\n  demo: [unclosed\n")
    finding = by_check(doctor.run_doctor(reachable=unreachable))["clouds.yaml"]
    assert finding.status == "problem"
    assert str(machine / "clouds.yaml") in finding.found


def test_an_unknown_cloud_lists_the_entries(machine: Path) -> None:
    found = by_check(doctor.run_doctor(cloud="other", reachable=unreachable))
    assert "cloud 'other' is not in clouds.yaml" in found["clouds.yaml"].found
    assert "entries: demo" in found["clouds.yaml"].found
    assert found["credentials (other)"].status == "problem"


def test_a_mirror_without_the_tools_host_says_which_tree_is_missing(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tofu = fake_cli(machine, "OpenTofu", "1.10.7")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(mirror_rc(machine, "registry.terraform.io")))
    finding = by_check(doctor.run_doctor(str(tofu), reachable=unreachable))["OpenStack provider"]
    assert finding.status == "problem"
    assert "OpenTofu asks for its own" in finding.found
    assert f"registry.opentofu.org/{doctor.PROVIDER}" in finding.todo


def test_an_unparsable_cli_configuration_is_a_problem(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tofu = fake_cli(machine, "OpenTofu", "1.10.7")
    rc = machine / "rc"
    rc.write_text("provider_installation {\n")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(rc))
    finding = by_check(doctor.run_doctor(str(tofu), reachable=unreachable))["OpenStack provider"]
    assert (finding.status, finding.found.startswith(f"{rc} does not parse")) == ("problem", True)


def test_a_plugin_cache_counts_and_a_reachable_registry_too(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terraform = fake_cli(machine, "Terraform", "1.11.4")
    assert by_check(doctor.run_doctor(str(terraform), reachable=lambda h, p: True))[
        "OpenStack provider"
    ].found.startswith("downloaded from registry.terraform.io")
    cache = machine / "cache"
    (cache / "registry.terraform.io" / doctor.PROVIDER / "3.0.0").mkdir(parents=True)
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", str(cache))
    finding = by_check(doctor.run_doctor(str(terraform), reachable=unreachable))
    assert finding["OpenStack provider"].found.startswith(f"in the plugin cache {cache}")


def test_a_readable_state_directory_is_a_problem(machine: Path) -> None:
    state = machine / "state"
    (state / "testbeds" / "tb1").mkdir(parents=True, mode=0o700)
    os.chmod(state, 0o755)
    finding = by_check(doctor.run_doctor(reachable=unreachable))["state directory"]
    assert finding.status == "problem"
    assert "mode 0755" in finding.found and finding.todo.startswith(f"chmod 700 {state}")


def test_remote_state_without_credentials_or_with_an_old_cli(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (machine / "remote.json").write_text(
        json.dumps({"endpoint": "http://127.0.0.1:9", "bucket": "states"})
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    tofu = fake_cli(machine, "OpenTofu", "1.9.1")
    finding = by_check(doctor.run_doctor(str(tofu), reachable=unreachable))["remote state"]
    assert finding.status == "problem" and "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in (
        finding.found
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    finding = by_check(doctor.run_doctor(str(tofu), reachable=unreachable))["remote state"]
    assert "has no use_lockfile (needs >= 1.10)" in finding.found


def test_the_command_exits_2_on_a_problem_and_prints_json(machine: Path) -> None:
    env = dict(os.environ, PATH=str(machine / "empty-bin"), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ok"] is False
    assert {c["check"] for c in answer["checks"]} >= {"OpenTofu/Terraform", "ssh client"}
    text = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "✘ problem OpenTofu/Terraform: neither `tofu` nor `terraform` is on PATH" in text.stdout
    assert "→ install OpenTofu" in text.stdout


# --------------------------------------------------------------------------- package mirrors


def test_doctor_reports_the_mirrors_the_local_testbed_will_use(machine: Path) -> None:
    asked: list[tuple[str, int]] = []

    def answers(host: str, port: int) -> bool:
        asked.append((host, port))
        return True

    finding = doctor.check_mirrors("local", answers)
    assert finding.status == doctor.OK
    assert "apt_proxy=http://172.24.4.1:3142 (" in finding.found
    assert "environments/local.tfvars:" in finding.found
    assert "pypi_index_url=http://172.24.4.1:3141/root/pypi/+simple/" in finding.found
    assert "reachable from here" in finding.found
    assert asked == [("172.24.4.1", 3142), ("172.24.4.1", 3141)]


def test_a_mirror_that_does_not_answer_here_is_a_warning_naming_it(machine: Path) -> None:
    finding = doctor.check_mirrors("local", unreachable)
    assert finding.status == doctor.WARNING
    assert "not reachable from here" in finding.found
    assert "172.24.4.1:3142" in finding.todo and "172.24.4.1:3141" in finding.todo


def test_an_environment_without_mirrors_says_its_servers_need_the_internet(machine: Path) -> None:
    finding = doctor.check_mirrors("regiocloud", unreachable)
    assert finding.status == doctor.OK
    assert finding.found.startswith("none: ")
    assert "apt_proxy" in finding.todo


def test_an_override_names_its_source(machine: Path, tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    envs.mkdir()
    (envs / "proxied.tfvars").write_text(
        'cloud_provider = "proxied"\napt_proxy = "http://proxy.example:3128"\n'
    )
    finding = doctor.check_mirrors("proxied", unreachable)
    assert "apt_proxy=http://proxy.example:3128 (" in finding.found
    assert "proxied.tfvars:2;" in finding.found
    assert "proxy.example:3128" in finding.todo


def test_doctor_with_an_unknown_environment_is_a_problem_exit_2(machine: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "doctor", "-e", "no-such-env", "--json"],
        capture_output=True,
        text=True,
        cwd=machine,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    checks = {c["check"]: c for c in json.loads(done.stdout)["checks"]}
    mirrors = checks["package mirrors of no-such-env"]
    assert mirrors["status"] == "problem" and "unknown environment" in mirrors["found"]
