"""Quota reads the preflight relies on, and `up --quota` really changing them."""

from __future__ import annotations

from tests.localcloud.conftest import LocalCloud, cli


def test_compute_limits(cloud: LocalCloud) -> None:
    limits = cloud.project.compute.get_limits().absolute
    assert limits.instances == 10
    assert limits.total_cores == 64
    assert limits.total_ram == 256 * 1024
    assert limits.instances_used >= 0


def test_network_quota_details(cloud: LocalCloud) -> None:
    quota = cloud.project.network.get_quota(cloud.project_id, details=True)
    assert quota.ports["limit"] == 60
    assert quota.floating_ips["limit"] == 5
    assert quota.security_group_rules["limit"] == 200
    assert quota.ports["used"] >= 0


def test_volume_quota_usage(cloud: LocalCloud) -> None:
    quota = cloud.project.block_storage.get_quota_set(cloud.project_id, usage=True)
    assert quota.volumes == 30 and quota.gigabytes == 1000
    assert quota.usage["volumes"] >= 0 and quota.usage["gigabytes"] >= 0


def test_quota_option_changes_the_project_quotas(cloud: LocalCloud) -> None:
    try:
        done = cli("localcloud", "up", "--quota", "ram=4096", "--quota", "cores=3,volumes=2,fips=1")
        assert done.returncode == 0, done.stderr
        admin = cloud.admin
        compute = admin.compute.get_quota_set(cloud.project_id)
        assert (compute.ram, compute.cores) == (4096, 3)
        assert admin.block_storage.get_quota_set(cloud.project_id).volumes == 2
        assert admin.network.get_quota(cloud.project_id).floating_ips == 1
    finally:
        # back to the default quotas (`up` without --quota applies them; start_cloud() would
        # leave a running cloud untouched)
        restored = cli("localcloud", "up")
        assert restored.returncode == 0, restored.stderr
    assert cloud.admin.compute.get_quota_set(cloud.project_id).cores == 64


def test_bad_quota_names_valid_keys() -> None:
    done = cli("localcloud", "up", "--quota", "rams=1")
    assert done.returncode == 2
    assert "instances" in done.stderr and "rams" in done.stderr
