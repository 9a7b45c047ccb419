"""The smoke suite's API checks against the local cloud's real APIs — and each able to fail.

The suite runs as `scs-testbed smoke` runs it (a pytest child built by suite.py), with the API
target set to the local cloud's admin entry and expectations that fit the local cloud (no
agents: its ML2 binding is agentless; one hypervisor; its own image). The local cloud is used,
never started or stopped here: the tier's check has found it ready. Run under the shared lock:
`flock -s /tmp/localcloud.lock python3 -m pytest tests/localcloud/test_smoke_api.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scs_testbed.errors import SmokeError
from scs_testbed.smoke import suite, workload

LOCAL_EXPECT = {
    "catalog": ["identity", "compute", "image", "network", "placement", "volumev3|block-storage"],
    "min_network_agents": 0,  # ML2 with an agentless binding driver
    "hypervisors": 1,
    "image": "Ubuntu 24.04",
    "flavor": "SCS-1V-2",
    "boot_from_volume": False,  # the fake cinder driver cannot make a volume from an image
    "ping": False,  # no manager here
    "workload_timeout": 300,
}


@pytest.fixture(scope="module")
def admin() -> Iterator[Any]:
    """An admin connection to the local cloud (services, hypervisors need admin)."""
    from scs_testbed import localcloud
    from scs_testbed.smoke.probes import open_api

    target = _target()
    conn = open_api(target)
    assert target.cloud == localcloud.ADMIN_CLOUD_NAME
    yield conn
    conn.close()


def _target() -> suite.ApiTarget:
    from scs_testbed import localcloud
    from scs_testbed.localcloud import Layout

    return suite.ApiTarget(localcloud.ADMIN_CLOUD_NAME, str(Layout.default().clouds_file))


def _run(
    tmp_path: Path, *, markers: str | None = None, keyword: str | None = None, **expect: Any
) -> tuple[suite.SmokeResult, list[str], str]:
    """Run the suite against the local cloud; (result, its output lines, a unique prefix)."""
    prefix = f"smk-{uuid.uuid4().hex[:6]}"
    config = suite.SmokeConfig(
        "smk",
        deploy_mode="openstack",
        manager=None,
        prefix=prefix,
        api=_target(),
        expect={**LOCAL_EXPECT, **expect},
    )
    request = suite.SmokeRequest(
        suite.write_config(config, tmp_path / "config.json"),
        tmp_path / "junit.xml",
        keyword=keyword,
        markers=markers,
    )
    lines: list[str] = []
    return suite.run_suite(request, lines.append), lines, prefix


def _verdict(result: suite.SmokeResult) -> None:
    suite.verdict(result, suite.SmokeRequest(Path("c"), result.junit))


def _no_leftovers(admin: Any, prefix: str) -> list[str]:
    spec = workload.WorkloadSpec(prefix, "", "", "")
    found = workload.leftovers(admin, spec)
    found += [f"server {s.name}" for s in admin.compute.servers() if s.name.startswith(prefix)]
    found += [
        f"volume {v.name}" for v in admin.block_storage.volumes() if v.name.startswith(prefix)
    ]
    found += [f"network {n.name}" for n in admin.network.networks() if n.name.startswith(prefix)]
    return found


def test_api_checks_pass_against_the_real_apis(tmp_path: Path) -> None:
    result, lines, _ = _run(tmp_path, markers="api and quick")
    _verdict(result)  # raises with the failures when one fails
    names = {check.name for check in result.checks if check.outcome == "passed"}
    assert names == {
        "test_catalog_services",
        "test_compute_services",
        "test_hypervisors",
        "test_network_agents",
        "test_volume_services",
        "test_user_resources_exist",
    }, lines


def test_flavor_names_conform(tmp_path: Path) -> None:
    result, lines, _ = _run(tmp_path, keyword="flavor_names")
    _verdict(result)
    assert [c.name for c in result.checks] == ["test_flavor_names_match_properties"], lines


def test_workload_runs_and_leaves_nothing(tmp_path: Path, admin: Any) -> None:
    result, lines, prefix = _run(tmp_path, markers="workload")
    try:
        _verdict(result)
        assert [c.outcome for c in result.checks] == ["passed"], lines
    finally:
        assert _no_leftovers(admin, prefix) == []


def test_a_disabled_compute_service_fails_the_check(tmp_path: Path, admin: Any) -> None:
    service = next(s for s in admin.compute.services() if s.binary == "nova-compute")
    admin.compute.disable_service(service, service.host, service.binary, "smk smoke test")
    try:
        result, lines, _ = _run(tmp_path, keyword="compute_services")
    finally:  # re-enabled before anything else: other users of the local cloud schedule here
        admin.compute.enable_service(service, service.host, service.binary)
    with pytest.raises(SmokeError) as caught:
        _verdict(result)
    assert f"nova-compute@{service.host} disabled/up" in caught.value.details[0], lines
    assert "expected enabled/up" in caught.value.details[0]
    enabled = next(s for s in admin.compute.services() if s.id == service.id)
    assert enabled.status == "enabled"


def test_missing_things_fail_with_found_and_expected(tmp_path: Path) -> None:
    result, lines, _ = _run(
        tmp_path,
        keyword="user_resources or catalog or network_agents or hypervisors",
        image="smk-no-such-image",
        catalog=["identity", "object-store"],
        min_network_agents=1,
        hypervisors=5,
    )
    assert result.exit_code == suite.PYTEST_FAILED, lines
    messages = {c.name: c.message for c in result.checks if c.outcome == "failed"}
    assert "image 'smk-no-such-image' not found" in messages["test_user_resources_exist"]
    assert "catalog lacks object-store" in messages["test_catalog_services"]
    assert "0 network agents listed (expected at least 1)" in messages["test_network_agents"]
    assert "expected at least 5" in messages["test_hypervisors"]


def test_a_failing_workload_still_tears_down(tmp_path: Path, admin: Any) -> None:
    """The data volume's type does not exist: the workload fails after network, router and
    server exist, and all of them are removed."""
    result, lines, prefix = _run(tmp_path, markers="workload", volume_type="smk-no-such-type")
    try:
        assert result.exit_code == suite.PYTEST_FAILED, lines
        (check,) = result.checks
        assert check.outcome == "failed"
        assert "type smk-no-such-type) could not be created" in check.message, lines
        assert "workload teardown:" not in "\n".join(lines)  # the teardown itself went through
    finally:
        assert _no_leftovers(admin, prefix) == []


def test_a_missing_workload_image_creates_nothing(tmp_path: Path, admin: Any) -> None:
    result, lines, prefix = _run(tmp_path, markers="workload", image="smk-no-such-image")
    assert result.exit_code == suite.PYTEST_FAILED, lines
    assert "image 'smk-no-such-image' not found" in result.checks[0].message
    assert _no_leftovers(admin, prefix) == []
