"""The smoke suite's runner: argument list, selection by deploy_mode and markers, verdicts."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from scs_testbed import errors, runner
from scs_testbed.errors import EXIT_INPUT, EXIT_SMOKE, InputError, SmokeError
from scs_testbed.smoke import suite
from scs_testbed.smoke.suite import CheckResult, SmokeConfig, SmokeRequest, SmokeResult


def _request(tmp_path: Path, **kw: object) -> SmokeRequest:
    return SmokeRequest(tmp_path / "config.json", tmp_path / "out" / "junit.xml", **kw)  # type: ignore[arg-type]


def test_arguments_are_built_without_touching_anything(tmp_path: Path) -> None:
    request = _request(tmp_path, keyword="ceph or bootstrap", markers="quick and not workload")
    argv = suite.build_pytest_args(request, python="/py")
    assert argv[:3] == ["/py", "-m", "pytest"]
    assert argv[argv.index("-c") + 1] == str(suite.INI_FILE)
    assert argv[argv.index("--smoke-config") + 1] == str(tmp_path / "config.json")
    assert argv[argv.index("--junitxml") + 1] == str(tmp_path / "out" / "junit.xml")
    assert argv[argv.index("-k") + 1] == "ceph or bootstrap"
    assert argv[argv.index("-m", 3) + 1] == "quick and not workload"
    assert "no:cacheprovider" in argv
    assert argv[-1] == str(suite.CHECKS_DIR)
    assert not (tmp_path / "out").exists()  # pure: nothing written


def test_no_selection_means_no_k_or_m(tmp_path: Path) -> None:
    argv = suite.build_pytest_args(_request(tmp_path))
    assert "-k" not in argv and "-m" not in argv[3:]


def test_markers_in_ini_match_the_table() -> None:
    ini = suite.INI_FILE.read_text()
    for marker in suite.MARKERS:
        assert f"    {marker}: " in ini


@pytest.mark.parametrize(
    "expression", ["quick and", "(quick", "quick workload", "quik", "not hosts or cephs", " "]
)
def test_bad_marker_expressions_are_input_errors(expression: str) -> None:
    with pytest.raises(InputError) as caught:
        suite.check_marker_expression(expression)
    assert caught.value.exit_code == EXIT_INPUT


def test_good_marker_expression() -> None:
    assert suite.check_marker_expression("(quick or conformance) and not workload")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["nodes=5"], {"nodes": 5}),
        (["catalog=identity, compute"], {"catalog": ["identity", "compute"]}),
        (["ping=no", "image=Debian 12"], {"ping": False, "image": "Debian 12"}),
    ],
)
def test_expectations_are_typed(items: list[str], expected: dict[str, object]) -> None:
    assert suite.parse_expectations(items) == expected


@pytest.mark.parametrize("item", ["nodes", "nodez=3", "nodes=three", "ping=maybe", "mons=-1"])
def test_bad_expectations_are_input_errors(item: str) -> None:
    with pytest.raises(InputError):
        suite.parse_expectations([item])


def test_expected_values_are_derived_from_the_testbed() -> None:
    config = SmokeConfig("tb", nodes=["node-0", "node-1"], expect={"mons": 1})
    assert config.expected("nodes") == 2 and config.expected("hypervisors") == 2
    assert config.expected("mons") == 1 and config.expected("min_free_gb") == 5
    assert SmokeConfig.from_json(config.to_json()) == config


# ----------------------------------------------------------------- selection (real pytest)


def _collected(tmp_path: Path, mode: str, markers: str | None = None) -> set[str]:
    """Names of the checks the real suite selects (pytest --collect-only, no host, no API)."""
    config = suite.write_config(
        SmokeConfig("tb", deploy_mode=mode, nodes=["node-0"]), tmp_path / "c.json"
    )
    request = SmokeRequest(config, tmp_path / "j.xml", markers=markers)
    done = runner.run([*suite.build_pytest_args(request), "--collect-only"], timeout=120)
    assert done.returncode in (0, 5), done.stdout + done.stderr
    return {line.split("::")[1].split("[")[0] for line in done.stdout.splitlines() if "::" in line}


def test_deploy_mode_selects_the_checks_that_exist(tmp_path: Path) -> None:
    manager = _collected(tmp_path, "manager")
    assert manager == {
        "test_cloud_init_finished",
        "test_bootstrap_finished",
        "test_time_synchronised",
        "test_free_disk",
        "test_manager_services_running",
    }
    ceph = _collected(tmp_path, "ceph")
    assert ceph - manager == {"test_ceph_status", "test_node_containers_healthy"}
    openstack = _collected(tmp_path, "openstack")
    assert {
        "test_catalog_services",
        "test_compute_services",
        "test_network_agents",
        "test_volume_services",
        "test_server_with_volume_and_floating_ip",
        "test_public_image_metadata",
        "test_rabbitmq_cluster",
    } <= openstack - ceph
    assert not {"test_prometheus", "test_alerts"} & openstack
    assert {"test_prometheus", "test_alerts"} <= _collected(tmp_path, "full") - openstack


def test_markers_select_within_the_mode(tmp_path: Path) -> None:
    quick = _collected(tmp_path, "full", "quick")
    assert "test_server_with_volume_and_floating_ip" not in quick
    assert "test_public_image_metadata" not in quick
    assert "test_catalog_services" in quick
    assert _collected(tmp_path, "full", "workload") == {"test_server_with_volume_and_floating_ip"}
    assert _collected(tmp_path, "manager", "api") == set()


# ---------------------------------------------------------------------------- verdicts


def _result(code: int, outcomes: list[str], tmp_path: Path) -> SmokeResult:
    checks = [CheckResult("openstack", f"t{i}", o, f"m{i}") for i, o in enumerate(outcomes)]
    return SmokeResult(code, checks, tmp_path / "j.xml", 1.0)


def test_all_passed_is_a_pass(tmp_path: Path) -> None:
    suite.verdict(_result(0, ["passed", "skipped"], tmp_path), _request(tmp_path))


@pytest.mark.parametrize(
    ("code", "outcomes", "error", "words"),
    [
        (1, ["passed", "failed"], SmokeError, "1 of 2 smoke checks failed"),
        (5, [], SmokeError, "no smoke check ran (none selected"),
        (0, ["skipped", "skipped"], SmokeError, "no smoke check ran (2 skipped"),
        (0, [], SmokeError, "no smoke check ran"),
        (4, [], InputError, "refused"),
        (3, [], errors.TestbedError, "exit code 3"),
    ],
)
def test_exit_codes_map_to_errors(
    tmp_path: Path, code: int, outcomes: list[str], error: type, words: str
) -> None:
    with pytest.raises(error) as caught:
        suite.verdict(_result(code, outcomes, tmp_path), _request(tmp_path, markers="api"))
    assert type(caught.value) is error
    assert words in caught.value.message
    if error is SmokeError:
        assert caught.value.exit_code == EXIT_SMOKE


def test_zero_checks_names_the_selection(tmp_path: Path) -> None:
    with pytest.raises(SmokeError) as caught:
        suite.verdict(
            _result(5, [], tmp_path), _request(tmp_path, keyword="nothing", markers="api")
        )
    assert "-k 'nothing'" in caught.value.message and "-m 'api'" in caught.value.message


def test_interrupted_pytest_is_an_interrupt(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        suite.verdict(_result(2, [], tmp_path), _request(tmp_path))


def test_failures_are_listed_with_their_messages(tmp_path: Path) -> None:
    with pytest.raises(SmokeError) as caught:
        suite.verdict(_result(1, ["failed", "passed"], tmp_path), _request(tmp_path))
    assert caught.value.details == ["openstack: t0: m0"]


def test_junit_is_read_per_group(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(
        """<?xml version="1.0"?><testsuites><testsuite name="s">
        <testcase classname="test_ceph" name="test_ceph_status">
        <failure message="HEALTH_ERR"/></testcase>
        <testcase classname="scs_testbed.smoke.checks.test_bootstrap" name="test_a[manager]"/>
        <testcase classname="test_bootstrap" name="test_a[node-0]">
        <error message="boom"/></testcase>
        <testcase classname="test_workload" name="test_w"><skipped message="why"/></testcase>
        </testsuite></testsuites>"""
    )
    checks = suite.read_junit(junit)
    result = SmokeResult(1, checks, junit, 1.0)
    assert result.by_group() == {
        "bootstrap": Counter(passed=1, failed=1),
        "ceph": Counter(failed=1),
        "workload": Counter(skipped=1),
    }
    assert list(result.by_group()) == ["bootstrap", "ceph", "workload"]  # GROUPS order
    assert checks[0].message == "HEALTH_ERR"
    assert suite.read_junit(tmp_path / "missing.xml") == []


def test_a_stale_junit_file_does_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = _request(tmp_path)
    request.junit.parent.mkdir()
    request.junit.write_text(
        "<testsuites><testsuite><testcase classname='test_x' name='t'/></testsuite></testsuites>"
    )
    monkeypatch.setattr(runner, "stream", lambda argv, on_line, **kw: 5)
    result = suite.run_suite(request, print)
    assert result.checks == [] and not request.junit.exists()
    assert sys.executable  # the child is the same interpreter (build_pytest_args default)
