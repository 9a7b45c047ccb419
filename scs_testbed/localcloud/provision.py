"""What the cloud holds for a testbed, created through openstacksdk; every step find-or-create.

Why just over 400 lines: one find-or-create per kind of resource of the local cloud (catalog,
flavors, image, networks, volume type, project, quotas), each short; they belong together.

openstacksdk is imported inside the functions: `scs-testbed --help` must stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from scs_testbed.errors import InputError
from scs_testbed.localcloud import configs
from scs_testbed.localcloud.configs import write_private
from scs_testbed.localcloud.layout import (
    ADMIN_CLOUD_NAME,
    CLOUD_NAME,
    KEYSTONE_URL,
    REGION,
    Layout,
)
from scs_testbed.polling import poll

# openstack.connection.Connection; its proxies are typed as unions over API versions that
# would need a cast at every call, so the connection is plain Any here.
Connection = Any

# service users the OpenStack services authenticate as (keystone_authtoken, service_user)
SERVICE_USERS = ("glance", "placement", "nova", "neutron", "cinder")
# (name, type, URL); every one gets a public, internal and admin endpoint
CATALOG = (
    ("glance", "image", "http://127.0.0.1:9292"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("neutron", "network", "http://127.0.0.1:9696"),
    ("cinderv3", "volumev3", "http://127.0.0.1:8776/v3/%(project_id)s"),
    ("cinder", "block-storage", "http://127.0.0.1:8776/v3/%(project_id)s"),
)


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int = 0


# SCS standard flavor names: <vCPUs>V-<RAM GiB>[-<root disk GB>]; no disk = boot from volume
FLAVORS = tuple(
    Flavor(f"SCS-{v}V-{r}" + (f"-{d}" if d else ""), v, r * 1024, d)
    for v, r, d in (
        (1, 2, 0),
        (2, 4, 0),
        (2, 8, 0),
        (4, 8, 0),
        (4, 16, 0),
        (8, 16, 0),
        (8, 32, 0),
        (1, 2, 10),
        (2, 4, 20),
        (4, 8, 50),
        (4, 16, 50),
        (8, 32, 50),
        (8, 32, 100),
    )
)
IMAGE_NAME = "Ubuntu 24.04"
IMAGE_SIZE = 1024 * 1024  # the fake hypervisor never reads it
PUBLIC_NETWORK = "public"
PUBLIC_CIDR = "172.24.4.0/24"
VOLUME_TYPE = "ssd"
AVAILABILITY_ZONE = "nova"
TESTBED_PROJECT = "testbed"
TESTBED_USER = "testbed"

# option key -> (service, attribute of the openstacksdk quota resource)
QUOTA_KEYS: dict[str, tuple[str, str]] = {
    "instances": ("compute", "instances"),
    "cores": ("compute", "cores"),
    "ram": ("compute", "ram"),
    "key_pairs": ("compute", "key_pairs"),
    "server_groups": ("compute", "server_groups"),
    "server_group_members": ("compute", "server_group_members"),
    "volumes": ("volume", "volumes"),
    "gigabytes": ("volume", "gigabytes"),
    "snapshots": ("volume", "snapshots"),
    "per_volume_gigabytes": ("volume", "per_volume_gigabytes"),
    "networks": ("network", "networks"),
    "subnets": ("network", "subnets"),
    "ports": ("network", "ports"),
    "routers": ("network", "routers"),
    "floating_ips": ("network", "floating_ips"),
    "security_groups": ("network", "security_groups"),
    "security_group_rules": ("network", "security_group_rules"),
}
QUOTA_ALIASES = {
    "floatingips": "floating_ips",
    "fips": "floating_ips",
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "router": "routers",
    "keypairs": "key_pairs",
    "security_group": "security_groups",
    "security_group_rule": "security_group_rules",
    "secgroups": "security_groups",
    "secgroup_rules": "security_group_rules",
}
# A bit more than one minimal testbed needs (4 instances, 28 vCPUs, 104 GiB RAM, ~90 GB of
# volumes + root disks), the way a small real project would be sized.
DEFAULT_QUOTAS: dict[str, int] = {
    "instances": 10,
    "cores": 64,
    "ram": 256 * 1024,
    "key_pairs": 10,
    "server_groups": 10,
    "server_group_members": 10,
    "volumes": 30,
    "gigabytes": 1000,
    "snapshots": 10,
    "per_volume_gigabytes": -1,
    "networks": 10,
    "subnets": 10,
    "ports": 60,
    "routers": 3,
    "floating_ips": 5,
    "security_groups": 20,
    "security_group_rules": 200,
}


def parse_quotas(items: list[str]) -> dict[str, int]:
    """`["ram=16384", "cores=8"]` -> `{"ram": 16384, "cores": 8}`; names checked, -1 = unlimited."""
    quotas: dict[str, int] = {}
    for item in items:
        for part in filter(None, item.split(",")):
            key, sep, value = part.partition("=")
            key = key.strip().lower().replace("-", "_")
            key = QUOTA_ALIASES.get(key, key)
            if not sep or key not in QUOTA_KEYS:
                raise InputError(
                    f"invalid quota {part!r}",
                    hint="use NAME=NUMBER with NAME one of: " + ", ".join(QUOTA_KEYS),
                )
            try:
                number = int(value)
            except ValueError:
                raise InputError(f"quota {key} needs a whole number, got {value!r}") from None
            if number < -1:
                raise InputError(f"quota {key} must be >= -1 (-1 = unlimited), got {number}")
            quotas[key] = number
    return quotas


def admin_auth(secret: Mapping[str, str]) -> dict[str, str]:
    return {
        "auth_url": KEYSTONE_URL,
        "username": "admin",
        "password": secret["admin"],
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def testbed_auth(secret: Mapping[str, str]) -> dict[str, str]:
    return {
        "auth_url": KEYSTONE_URL,
        "username": TESTBED_USER,
        "password": secret["testbed"],
        "project_name": TESTBED_PROJECT,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def connect(auth: Mapping[str, str]) -> Connection:
    """An openstacksdk connection to the local cloud (no clouds.yaml needed)."""
    import openstack

    return openstack.connect(
        auth=dict(auth), region_name=REGION, identity_api_version="3", interface="public"
    )


def wait_for(
    what: str, probe: Callable[[], bool], timeout: float, on_poll: Callable[[], None]
) -> None:
    """Poll `probe` until it returns True; `on_poll` may raise (e.g. a service died)."""

    def ask() -> bool | None:
        on_poll()
        try:
            return True if probe() else None
        except Exception:  # not ready yet: APIs answer errors while starting
            return None

    if poll(ask, timeout, pauses=(0.5,)) is None:
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def build_catalog(conn: Connection, secret: Mapping[str, str]) -> None:
    """Service project, service users with admin+service roles, services and endpoints."""
    idn = conn.identity
    project = idn.find_project("service", domain_id="default") or idn.create_project(
        name="service", domain_id="default"
    )
    roles = {role.name: role for role in idn.roles()}
    if "service" not in roles:
        roles["service"] = idn.create_role(name="service")
    for name in SERVICE_USERS:
        user = idn.find_user(name, domain_id="default")
        if user is None:
            user = idn.create_user(name=name, password=secret["service"], domain_id="default")
        for role in ("admin", "service"):
            _ensure_role(conn, project, user, roles[role])
    existing = {(e.service_id, e.interface) for e in idn.endpoints()}
    services = {s.type: s for s in idn.services()}
    for name, kind, url in CATALOG:
        service = services.get(kind) or idn.create_service(name=name, type=kind)
        for interface in ("public", "internal", "admin"):
            if (service.id, interface) not in existing:
                idn.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=REGION
                )


def compute_driver(conn: Connection) -> str | None:
    """The compute driver the running nova-compute reports (configs.DRIVERS' names), asked of
    the cloud itself: the hypervisor type of its hypervisor; None while none is up.

    This is the one answer to "do this cloud's servers boot?" (`== "nspawn"`)."""
    by_type = {kind: name for name, kind in configs.HYPERVISOR_TYPES.items()}
    for hypervisor in conn.compute.hypervisors(details=True):
        if hypervisor.state == "up":
            return by_type.get(str(hypervisor.hypervisor_type), str(hypervisor.hypervisor_type))
    return None


def compute_and_volume_ready(conn: Connection, driver: str | None = None) -> bool:
    """The hypervisor is mapped and up (reporting `driver`'s type, when given), and
    cinder-volume reports up."""
    hypervisors = [h for h in conn.compute.hypervisors(details=True) if h.state == "up"]
    if driver is not None:
        hypervisors = [
            h for h in hypervisors if h.hypervisor_type == configs.HYPERVISOR_TYPES[driver]
        ]
    volumes = [
        s
        for s in conn.block_storage.services()
        if s.binary == "cinder-volume" and s.state == "up" and s.status == "enabled"
    ]
    return bool(hypervisors and volumes)


def provision(
    conn: Connection, layout: Layout, secret: Mapping[str, str], quotas: Mapping[str, int]
) -> str:
    """Flavors, image, public network, volume type, testbed project/user/quotas; returns
    the testbed project's ID."""
    project_id = _testbed_project(conn, secret)
    _flavors(conn, project_id)
    _image(conn, layout)
    _public_network(conn)
    _volume_type(conn)
    set_quotas(conn, project_id, {**DEFAULT_QUOTAS, **quotas})
    return project_id


def _flavors(conn: Connection, project_id: str) -> None:
    """The SCS flavors, shared with the testbed project and the admin's only: any other
    project (the tests give projects catalogs of their own: other flavor names, none big
    enough) sees only the flavors shared with it. Public ones of an older `up` are made so,
    keeping their IDs."""
    projects = {project_id, str(conn.current_project_id)}
    existing = {f.name: f for f in conn.compute.flavors(is_public=None)}
    for flavor in FLAVORS:
        found = existing.get(flavor.name)
        if found is not None and not found.is_public:
            granted = {a.get("tenant_id") for a in conn.compute.get_flavor_access(found)}
            for project in sorted(projects - granted):
                conn.compute.flavor_add_tenant_access(found, project)
            continue
        if found is not None:  # servers keep a copy of their flavor: recreating is safe
            conn.compute.delete_flavor(found)
        created = conn.compute.create_flavor(
            name=flavor.name,
            vcpus=flavor.vcpus,
            ram=flavor.ram_mb,
            disk=flavor.disk_gb,
            is_public=False,
            **({"id": found.id} if found is not None else {}),
        )
        for project in sorted(projects):
            conn.compute.flavor_add_tenant_access(created, project)


def _image(conn: Connection, layout: Layout) -> None:
    image = conn.image.find_image(IMAGE_NAME)
    if image is not None and image.status == "active":
        return
    if image is not None:  # an upload interrupted earlier
        conn.image.delete_image(image)
    path = layout.data / "ubuntu-24.04.img"
    if not path.is_file():
        path.write_bytes(b"\0" * IMAGE_SIZE)
    conn.create_image(
        IMAGE_NAME,
        filename=str(path),
        disk_format="raw",
        container_format="bare",
        visibility="public",
        wait=True,
        timeout=120,
        os_distro="ubuntu",
        os_version="24.04",
    )


def _public_network(conn: Connection) -> None:
    net = conn.network.find_network(PUBLIC_NETWORK)
    if net is None:
        net = conn.network.create_network(
            name=PUBLIC_NETWORK,
            is_router_external=True,
            is_shared=False,
            provider_network_type="flat",
            provider_physical_network="public",
        )
    if not list(conn.network.subnets(network_id=net.id)):
        conn.network.create_subnet(
            network_id=net.id,
            name=f"{PUBLIC_NETWORK}-subnet",
            ip_version=4,
            cidr=PUBLIC_CIDR,
            gateway_ip="172.24.4.1",
            enable_dhcp=False,
            allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}],
        )


def _volume_type(conn: Connection) -> None:
    if conn.block_storage.find_type(VOLUME_TYPE) is None:
        conn.block_storage.create_type(
            name=VOLUME_TYPE, is_public=True, extra_specs={"volume_backend_name": "fake"}
        )


def _testbed_project(conn: Connection, secret: Mapping[str, str]) -> str:
    idn = conn.identity
    project = idn.find_project(TESTBED_PROJECT, domain_id="default") or idn.create_project(
        name=TESTBED_PROJECT,
        domain_id="default",
        description="scs-testbed local cloud project",
    )
    user = idn.find_user(TESTBED_USER, domain_id="default")
    if user is None:
        user = idn.create_user(
            name=TESTBED_USER,
            password=secret["testbed"],
            domain_id="default",
            default_project_id=project.id,
        )
    _ensure_role(conn, project, user, idn.find_role("member"))
    return str(project.id)


def _ensure_role(conn: Connection, project: Any, user: Any, role: Any) -> None:
    """Assign a role only when missing.

    Users are never updated and roles never re-assigned on a repeated `up`: keystone would
    record a revocation event and reject every token issued in that same second, so clients
    that authenticated right after `up` would meet 401s.
    """
    if not conn.identity.validate_user_has_project_role(project, user, role):
        conn.identity.assign_project_role_to_user(project, user, role)


def set_quotas(conn: Connection, project_id: str, quotas: Mapping[str, int]) -> None:
    """Set the project's quotas; keys as in QUOTA_KEYS."""
    by_service: dict[str, dict[str, Any]] = {}
    for key, value in quotas.items():
        service, attr = QUOTA_KEYS[key]
        by_service.setdefault(service, {})[attr] = value
    if "compute" in by_service:
        conn.compute.update_quota_set(project_id, **by_service["compute"])
    if "volume" in by_service:
        conn.block_storage.update_quota_set(project_id, **by_service["volume"])
    if "network" in by_service:
        conn.network.update_quota(project_id, **by_service["network"])


def write_clouds_file(layout: Layout, secret: Mapping[str, str]) -> None:
    """clouds.yaml of its own with `localcloud` (testbed project) and `localcloud-admin`."""
    common = {"region_name": REGION, "identity_api_version": 3, "interface": "public"}
    clouds = {
        "clouds": {
            CLOUD_NAME: {"auth": testbed_auth(secret), **common},
            ADMIN_CLOUD_NAME: {"auth": admin_auth(secret), **common},
        }
    }
    write_private(layout.clouds_file, yaml.safe_dump(clouds, sort_keys=False))
