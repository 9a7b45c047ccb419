"""`env new` against catalogs built on the local cloud, then `env validate`, `check`, `deploy`
and `destroy` of what it wrote; `doctor --cloud` against the real keystone.

The local cloud is shared with other workers, so every catalog is a project of its own
(`prt-<case>-<random>`, created with the admin cloud, the local user given `member` there, a
clouds.yaml entry in the test's tmp dir): flavors private with access for that project only,
images private to it, external networks made external for that project only (a neutron RBAC
policy `access_as_external` targeted at it, the way a provider offers a network to one
customer). Everything is removed in `finally`, and the test asserts that nothing is left.

What the local cloud shares with every project: its public image "Ubuntu 24.04" (glance has
no per-project way to hide a public image). Its SCS flavors are shared with the `testbed`
project only (`localcloud up`), so a project here sees only the flavors made for it:
- "no SCS names": the fresh catalog's flavors have other names and sizes, and `env new` picks
  them by size alone;
- "no big-enough flavor": a project with only a small flavor; `env new` names what is missing;
- "no image at all" is built as a project whose service catalog has no image service
  (keystone's project endpoint filter lists every endpoint but glance's): the project sees no
  image at all, as a real project of a cloud without (or without access to) an image service.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from scs_testbed.localcloud import Layout
from tests.localcloud.conftest import LocalCloud, connect, host_leftovers, user_env

CLOUDS_FILE = Layout.default().clouds_file
ODD_IMAGE = "prt-img-amd64-20991231"  # an odd name; its properties say Ubuntu 24.04


@dataclass
class Project:
    """A project of its own on the local cloud, with a clouds.yaml entry for it."""

    name: str
    id: str
    clouds_file: Path
    admin: Any
    undo: list[Callable[[], None]] = field(default_factory=list)

    def user(self) -> Any:
        return connect(self.clouds_file, self.name)


def _base_auth() -> dict[str, Any]:
    from scs_testbed.localcloud import CLOUD_NAME

    return dict(yaml.safe_load(CLOUDS_FILE.read_text())["clouds"][CLOUD_NAME])


@contextmanager
def prt_project(cloud: LocalCloud, directory: Path, case: str) -> Iterator[Project]:
    """A new project `prt-<case>-<hex>`; everything in it and it itself removed afterwards."""
    from scs_testbed.localcloud.provision import DEFAULT_QUOTAS, set_quotas

    admin = cloud.admin
    name = f"prt-{case}-{secrets.token_hex(3)}"
    base = _base_auth()
    made = admin.identity.create_project(
        name=name, domain_id="default", description="scs-testbed porting test (prt), disposable"
    )
    project = Project(name, made.id, directory / "clouds.yaml", admin)
    try:
        user = admin.identity.find_user(base["auth"]["username"], domain_id="default")
        role = admin.identity.find_role("member")
        admin.identity.assign_project_role_to_user(made, user, role)
        set_quotas(admin, made.id, DEFAULT_QUOTAS)
        entry = {**base, "auth": {**base["auth"], "project_name": name}}
        clouds = yaml.safe_load(CLOUDS_FILE.read_text())
        clouds["clouds"][name] = entry
        project.clouds_file.write_text(yaml.safe_dump(clouds))
        project.clouds_file.chmod(0o600)
        yield project
    finally:
        for step in reversed(project.undo):
            try:
                step()
            except Exception as error:  # go on: the rest must still be removed
                print(f"cleanup of {name}: {error!r}", file=sys.stderr)
        _purge_project(admin, made.id)
        admin.identity.delete_project(made.id)


def _purge_project(admin: Any, project_id: str) -> None:
    """What the project's own users made and nobody deleted (the default security group)."""
    for group in admin.network.security_groups():  # unfiltered: see project_leftovers
        if group.project_id == project_id:
            admin.network.delete_security_group(group, ignore_missing=True)


def project_leftovers(admin: Any, project_id: str) -> list[str]:
    """Everything the cloud still holds for the project (admin view, all services)."""
    found = [
        f"server {s.name}" for s in admin.compute.servers(all_projects=True, project_id=project_id)
    ]
    found += [
        f"volume {v.name}"
        for v in admin.block_storage.volumes(all_projects=True, project_id=project_id)
    ]
    for kind in ("networks", "subnets", "ports", "routers", "ips"):
        found += [
            f"{kind} {getattr(r, 'name', r.id)}"
            for r in getattr(admin.network, kind)(project_id=project_id)
        ]
    # unfiltered: neutron makes a project's default group when asked for its groups
    found += [
        f"security group {g.name}"
        for g in admin.network.security_groups()
        if g.project_id == project_id
    ]
    found += [f"image {i.name}" for i in admin.image.images(owner=project_id)]
    found += [
        f"flavor {f.name}"
        for f in admin.compute.flavors(is_public=None)
        if f.name.startswith("prt-")
    ]
    return found


def add_flavor(project: Project, name: str, vcpus: int, ram_gib: int, disk: int) -> None:
    admin = project.admin
    flavor = admin.compute.create_flavor(
        name=name, vcpus=vcpus, ram=ram_gib * 1024, disk=disk, is_public=False
    )
    project.undo.append(lambda: admin.compute.delete_flavor(flavor, ignore_missing=True))
    admin.compute.flavor_add_tenant_access(flavor, project.id)


def add_image(project: Project, user: Any, name: str, **properties: Any) -> None:
    """A private image of the project, uploaded (active), with properties."""
    image = user.image.create_image(
        name=name,
        data=b"\0" * 1024 * 1024,  # nspawn boots its cached Debian whatever the image holds
        disk_format="raw",
        container_format="bare",
        visibility="private",
        **properties,
    )
    project.undo.append(lambda: user.image.delete_image(image, ignore_missing=True))


def add_external_network(project: Project, name: str, cidr: str) -> None:
    """An external network for this project only: made, then offered by an RBAC policy."""
    admin = project.admin
    network = admin.network.create_network(name=name, project_id=project.id)
    project.undo.append(lambda: admin.network.delete_network(network, ignore_missing=True))
    admin.network.create_subnet(
        network_id=network.id, project_id=project.id, ip_version=4, cidr=cidr, enable_dhcp=False
    )
    admin.network.create_rbac_policy(
        object_type="network",
        object_id=network.id,
        action="access_as_external",
        target_project_id=project.id,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Process environment of a new user: their env dir, state dir, the test Terraform."""
    return user_env(
        tmp_path / "clouds.yaml", tmp_path, SCS_TESTBED_ENV_DIR=str(tmp_path / "environments")
    )


def run(env: dict[str, str], *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", *args],
        env=env,
        cwd=Path(env["SCS_TESTBED_STATE_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def values_of(path: Path) -> dict[str, Any]:
    """The file's values as the tool itself reads them (merged with the module defaults)."""
    from scs_testbed.environment import Catalog, load_environment

    return dict(load_environment(str(path), Catalog.locate(path.parent)).values)


def test_fresh_catalog_env_new_check_deploy_destroy(
    cloud: LocalCloud, tmp_path: Path, env: dict[str, str]
) -> None:
    """A project with private flavors of other names and sizes, an image with properties but
    an odd name, and three external networks: `env new` as a new user would run it."""
    environments = Path(env["SCS_TESTBED_ENV_DIR"])
    target = environments / "prtfresh.tfvars"
    testbed = f"prt-fresh-{secrets.token_hex(2)}"
    figures: dict[str, float] = {}
    with prt_project(cloud, tmp_path, "fresh") as project:
        user = project.user()
        add_flavor(project, "prt-m1.hci", 10, 36, 60)
        add_flavor(project, "prt-m1.mgr", 6, 16, 40)
        add_flavor(project, "prt-m1.small", 2, 4, 20)
        add_image(project, user, ODD_IMAGE, os_distro="ubuntu", os_version="24.04")
        add_external_network(project, "prt-ext-a", "198.51.100.0/24")
        add_external_network(project, "prt-ext-b", "203.0.113.0/24")
        cloud_name = project.name

        # several external networks and --yes: nothing is asked, nothing is written
        many = run(env, "env", "new", "prtfresh", "--cloud", cloud_name, "--yes")
        assert many.returncode == 2, many.stdout + many.stderr
        assert re.search(r"3 external networks: prt-ext-a, prt-ext-b, public", many.stderr)
        assert "--public" in many.stderr
        assert not target.exists()

        # no SCS names: the flavors are chosen by size alone, the smallest that fits
        started = time.monotonic()
        chosen = run(
            env, "env", "new", "prtfresh", "--cloud", cloud_name, "--yes", "--public", "public"
        )
        figures["env new"] = time.monotonic() - started
        assert chosen.returncode == 0, chosen.stdout + chosen.stderr
        values = values_of(target)
        assert values["cloud_provider"] == cloud_name
        assert (values["flavor_node"], values["flavor_manager"]) == ("prt-m1.hci", "prt-m1.mgr")
        assert values["node_boot_from_volume"] is False  # a 60 GB local disk
        assert values["manager_boot_from_volume"] is False
        assert values["image"] == values["image_node"] == ODD_IMAGE  # newest, by properties
        assert values["image_user"] == "ubuntu"
        assert values["public"] == "public"
        assert values["availability_zone"] == values["volume_availability_zone"] == "nova"
        assert values["network_availability_zone"] is None
        text = target.read_text()
        assert "properties (os_distro=ubuntu, os_version=24.04)" in text
        assert "SCS standard names preferred" not in text  # it sees none
        assert "preflight" in chosen.stdout.lower() or "quota" in chosen.stdout.lower()

        # refuses to overwrite; --force with a flag for a choice
        again = run(env, "env", "new", "prtfresh", "--cloud", cloud_name, "--yes")
        assert again.returncode == 2 and "--force" in again.stderr
        started = time.monotonic()
        written = run(
            env,
            *("env", "new", "prtfresh", "--cloud", cloud_name, "--yes", "--force"),
            *("--public", "public", "--flavor-manager", "prt-m1.hci"),
        )
        figures["env new (flags)"] = time.monotonic() - started
        assert written.returncode == 0, written.stdout + written.stderr
        assert values_of(target)["flavor_manager"] == "prt-m1.hci"
        written = run(
            env,
            *("env", "new", "prtfresh", "--cloud", cloud_name, "--yes", "--force"),
            *("--public", "public"),
        )
        assert written.returncode == 0, written.stdout + written.stderr

        valid = run(env, "env", "validate", "prtfresh")
        assert valid.returncode == 0, valid.stdout + valid.stderr
        checked = run(env, "check", "-e", "prtfresh", "--name", testbed, "--nodes", "3")
        assert checked.returncode == 0, checked.stdout + checked.stderr

        try:
            started = time.monotonic()
            deployed = run(env, "deploy", "-e", "prtfresh", "--name", testbed, "--nodes", "3")
            figures["deploy"] = time.monotonic() - started
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            servers = {
                s.name: s for s in user.compute.servers() if s.name.startswith(testbed + "-")
            }
            assert sorted(servers) == [
                f"{testbed}-manager",
                *(f"{testbed}-node-{i}" for i in range(3)),
            ]
            assert servers[f"{testbed}-manager"].flavor["original_name"] == "prt-m1.mgr"
            assert servers[f"{testbed}-node-0"].flavor["original_name"] == "prt-m1.hci"
        finally:
            started = time.monotonic()
            destroyed = run(env, "destroy", testbed, "--yes", "--force-cleanup")
            figures["destroy"] = time.monotonic() - started
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
        from scs_testbed.discover import find_resources

        assert find_resources(user, testbed) == []
    assert project_leftovers(cloud.admin, project.id) == []
    assert cloud.admin.identity.find_project(project.name) is None
    if cloud.boots:
        assert not [line for line in host_leftovers() if "prt" in line]
    print(f"\nFIGURES fresh catalog: {', '.join(f'{k} {v:.1f} s' for k, v in figures.items())}")


def test_project_without_a_big_enough_flavor_cannot_host(
    cloud: LocalCloud, tmp_path: Path, env: dict[str, str]
) -> None:
    """A project that sees only a small flavor (and a fitting image): `env new` names the
    node and manager flavors it lacks with the biggest it saw, exits 3 and writes nothing."""
    with prt_project(cloud, tmp_path, "small") as project:
        user = project.user()
        add_flavor(project, "prt-tiny", 2, 4, 20)
        add_image(project, user, ODD_IMAGE, os_distro="ubuntu", os_version="24.04")
        done = run(env, "env", "new", "prtsmall", "--cloud", project.name, "--yes")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "cannot host a testbed" in done.stderr
        assert "a node flavor with at least" in done.stderr
        assert "a manager flavor with at least" in done.stderr
        assert "the biggest is prt-tiny" in done.stderr
        assert "nothing was written" in done.stderr
        assert not (Path(env["SCS_TESTBED_ENV_DIR"]) / "prtsmall.tfvars").exists()
    assert project_leftovers(cloud.admin, project.id) == []


def test_project_that_sees_no_image_cannot_host(
    cloud: LocalCloud, tmp_path: Path, env: dict[str, str]
) -> None:
    """A project whose catalog has no image service sees no image at all: `env new` names
    the missing image, exits 3 and writes nothing."""
    admin = cloud.admin
    with prt_project(cloud, tmp_path, "noimg") as project:
        image_services = {s.id for s in admin.identity.services() if s.type == "image"}
        for endpoint in admin.identity.endpoints():
            if endpoint.service_id in image_services:
                continue
            path = f"/OS-EP-FILTER/projects/{project.id}/endpoints/{endpoint.id}"
            assert admin.identity.put(path).status_code in (200, 204)
            project.undo.append(lambda path=path: admin.identity.delete(path))
        started = time.monotonic()
        done = run(env, "env", "new", "prtnoimg", "--cloud", project.name, "--yes")
        seconds = time.monotonic() - started
        assert done.returncode == 3, done.stdout + done.stderr
        assert "cannot host a testbed" in done.stderr
        assert "image" in done.stderr and "no image service" in done.stderr
        assert "nothing was written" in done.stderr
        assert not (Path(env["SCS_TESTBED_ENV_DIR"]) / "prtnoimg.tfvars").exists()
        assert not Path(env["SCS_TESTBED_ENV_DIR"]).exists() or not any(
            Path(env["SCS_TESTBED_ENV_DIR"]).iterdir()
        )
    assert project_leftovers(cloud.admin, project.id) == []
    print(f"\nFIGURES no-image catalog: env new {seconds:.1f} s")


def test_doctor_credentials_against_the_local_cloud(
    cloud: LocalCloud, tmp_path: Path, env: dict[str, str]
) -> None:
    """Valid credentials: ok; a wrong password: one clear problem, exit 2, no secret shown."""
    import json

    from scs_testbed.localcloud import CLOUD_NAME

    def credentials(done: subprocess.CompletedProcess[str], cloud_name: str) -> dict[str, Any]:
        checks = json.loads(done.stdout)["checks"]
        return next(c for c in checks if c["check"] == f"credentials ({cloud_name})")

    good = run(
        {**env, "OS_CLIENT_CONFIG_FILE": str(CLOUDS_FILE)},
        "doctor",
        "--cloud",
        CLOUD_NAME,
        "--json",
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert credentials(good, CLOUD_NAME)["status"] == "ok"
    assert cloud.project_id in credentials(good, CLOUD_NAME)["found"]

    base = yaml.safe_load(CLOUDS_FILE.read_text())
    wrong = "prt-wrong-password-42"
    entry = base["clouds"][CLOUD_NAME]
    base["clouds"]["prt-badpw"] = {**entry, "auth": {**entry["auth"], "password": wrong}}
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump(base))
    bad_env = {**env, "OS_CLIENT_CONFIG_FILE": str(clouds)}
    bad = run(bad_env, "doctor", "--cloud", "prt-badpw", "--json")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    finding = credentials(bad, "prt-badpw")
    assert finding["status"] == "problem"
    assert re.search(r"401|authenticat|password|rejected", finding["found"], re.IGNORECASE), finding
    assert finding["todo"], finding
    shown = run(bad_env, "doctor", "--cloud", "prt-badpw")
    assert shown.returncode == 2
    assert wrong not in bad.stdout + bad.stderr + shown.stdout + shown.stderr
    assert re.search(r"✘ problem credentials \(prt-badpw\)", shown.stdout), shown.stdout
