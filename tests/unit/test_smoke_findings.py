"""The smoke checks' judgements: each passes on good data and names found vs expected on bad."""

from __future__ import annotations

import json

from scs_testbed.smoke import findings


def test_cloud_init() -> None:
    ok = json.dumps({"v1": {"datasource": "x", "errors": []}})
    assert findings.cloud_init_problems("manager", ok) == []
    bad = json.dumps({"v1": {"errors": ["boom"]}})
    assert "errors ['boom']" in findings.cloud_init_problems("manager", bad)[0]
    missing = findings.cloud_init_problems("node-0", None)[0]
    assert "not finished" in missing and "/var/lib/cloud/data/result.json" in missing
    odd = findings.cloud_init_problems("manager", "{}", "/var/lib/cloud/data/result.json")[0]
    assert odd.startswith("manager: /var/lib/cloud/data/result.json is not cloud-init's result")


def _events(*pairs: tuple[str, str]) -> str:
    return "\n".join(json.dumps({"v": 1, "step": s, "state": st, "detail": "d"}) for s, st in pairs)


def test_progress() -> None:
    assert findings.progress_problems("m", _events(("docker", "done"), ("testbed", "done"))) == []
    failed = findings.progress_problems("m", _events(("docker", "failed"), ("testbed", "failed")))
    assert "step docker failed" in failed[0] and "expected" in failed[0]
    running = findings.progress_problems("m", _events(("docker", "start")) + "\nnot json")
    assert "last event docker start" in running[0]
    assert "never started" in findings.progress_problems("m", None)[0]
    # a run started again after a failure (its unit restarted) that ended done: finished
    resumed = _events(
        ("packages", "failed"), ("testbed", "failed"), ("testbed", "start"), ("packages", "done")
    )
    assert findings.progress_problems("m", resumed + "\n" + _events(("testbed", "done"))) == []
    again = findings.progress_problems("m", resumed)
    assert "has not finished" in again[0] and "last event packages done" in again[0]


def test_time_and_disk() -> None:
    assert findings.time_sync_problems("m", "NTPSynchronized=yes\nX=1") == []
    assert "NTPSynchronized=no" in findings.time_sync_problems("m", "NTPSynchronized=no")[0]
    assert findings.disk_problems("m", 10 * 10**9, 5) == []
    assert "2.0 GB free" in findings.disk_problems("m", 2 * 10**9, 5)[0]


def test_containers() -> None:
    rows = findings.parse_docker_ps(
        "\n".join(
            json.dumps(r)
            for r in [
                {"Names": "osism-ansible", "State": "running", "Status": "Up 2 hours (healthy)"},
                {"Names": "kolla-ansible", "State": "running", "Status": "Up 1 hour"},
                {"Names": "done-job", "State": "exited", "Status": "Exited (0) 1 hour ago"},
            ]
        )
        + "\ngarbage"
    )
    assert findings.container_problems("m", rows) == []
    assert findings.missing_containers("m", rows, ["osism-ansible", "kolla"]) == []
    missing = findings.missing_containers("m", rows, ["ceph-ansible"])
    assert "no running container for ceph-ansible" in missing[0]
    bad = [
        {"Names": "a", "State": "running", "Status": "Up 1 minute (unhealthy)"},
        {"Names": "b", "State": "restarting", "Status": "Restarting (1) 3 seconds ago"},
        {"Names": "c", "State": "exited", "Status": "Exited (137) 1 hour ago"},
    ]
    problems = findings.container_problems("node-0", bad)
    assert len(problems) == 4 and "unhealthy" in problems[0] and "exited non-zero" in problems[2]


def test_ceph() -> None:
    good = {
        "health": {"status": "HEALTH_WARN"},
        "quorum_names": ["a", "b", "c"],
        "mgrmap": {"available": True},
        "osdmap": {"num_osds": 6, "num_up_osds": 6, "num_in_osds": 6},
    }
    assert findings.ceph_problems(good, 3, 3) == []
    bad = {
        "health": {"status": "HEALTH_ERR"},
        "quorum_names": ["a"],
        "mgrmap": {},
        "osdmap": {"osdmap": {"num_osds": 6, "num_up_osds": 5, "num_in_osds": 6}},
    }
    problems = findings.ceph_problems(bad, 3, 3)
    assert len(problems) == 4
    assert "6 total, 5 up, 6 in" in problems[3]


def test_infrastructure() -> None:
    assert findings.rabbitmq_problems({"running_nodes": [1, 2, 3], "partitions": {}}, 3) == []
    assert len(findings.rabbitmq_problems({"running_nodes": [1], "partitions": {"a": 1}}, 3)) == 2
    assert findings.opensearch_problems({"status": "yellow"}) == []
    assert "red" in findings.opensearch_problems({"status": "red"})[0]
    alerts = {
        "data": {
            "alerts": [
                {"labels": {"alertname": "Watchdog"}, "state": "firing"},
                {"labels": {"alertname": "CephDown"}, "state": "firing"},
                {"labels": {"alertname": "Slow"}, "state": "pending"},
            ]
        }
    }
    assert findings.alert_problems(alerts, ["Watchdog"]) == [
        "alerts firing: CephDown (expected only Watchdog)"
    ]


def test_openstack_api() -> None:
    assert (
        findings.catalog_problems(["identity", "block-storage"], ["volumev3|block-storage"]) == []
    )
    assert "lacks object-store" in findings.catalog_problems(["identity"], ["object-store"])[0]
    up = {"binary": "nova-compute", "host": "h", "status": "enabled", "state": "up"}
    assert findings.service_problems("compute", [up]) == []
    down = dict(up, status="disabled")
    assert "nova-compute@h disabled/up" in findings.service_problems("compute", [up, down])[0]
    assert "no volume services" in findings.service_problems("volume", [])[0]
    hyp = {"name": "h", "state": "up", "status": "enabled"}
    assert findings.hypervisor_problems([hyp], 1) == []
    assert "expected at least 3" in findings.hypervisor_problems([hyp], 3)[0]
    agent = {"binary": "ovn", "host": "n0", "alive": True, "admin_up": True}
    assert findings.agent_problems([agent], 1) == []
    assert findings.agent_problems([], 0) == []
    assert "0 network agents" in findings.agent_problems([], 1)[0]
    assert "is dead/up" in findings.agent_problems([dict(agent, alive=False)], 1)[0]


def test_conformance() -> None:
    flavors = [
        {"name": "SCS-2V-4-20", "vcpus": 2, "ram": 4096, "disk": 20},
        {"name": "SCS-1V-2", "vcpus": 1, "ram": 2048, "disk": 0},
        {"name": "m1.small", "vcpus": 1, "ram": 1, "disk": 1},
    ]
    assert findings.flavor_name_problems(flavors) == []
    wrong = findings.flavor_name_problems([{"name": "SCS-4V-8", "vcpus": 2, "ram": 8192}])
    assert "(2, 8192, None)" in wrong[0] and "(4, 8192, 0)" in wrong[0]
    image = {p: "x" for p in findings.IMAGE_PROPERTIES}
    image.update(name="Ubuntu", visibility="public", min_disk=0)
    assert findings.image_metadata_problems([image]) == []
    lacking = dict(image, os_version=None)
    assert "lacks os_version" in findings.image_metadata_problems([lacking])[0]
    assert findings.image_metadata_problems([dict(lacking, visibility="private")]) == []
