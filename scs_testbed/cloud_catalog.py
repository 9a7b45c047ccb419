"""`env new`, reading: a cloud's catalog as plain data (the shape of the golden files in
tests/unit/golden/catalogs/): flavors, images, networks, zones, volume types, extensions.

Reading (openstacksdk, here) and choosing (`proposal`, from this data alone) are apart;
`new_environment` writes the result and runs the preflight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CloudCatalog:
    """What `env new` needs to know about a cloud, as plain data."""

    flavors: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] | None = field(default_factory=list)  # None: no image API
    networks: list[dict[str, Any]] = field(default_factory=list)
    zones: dict[str, list[str] | None] = field(default_factory=dict)  # None: no such API
    volume_types: list[dict[str, Any]] | None = None  # None: no block storage service
    extensions: list[str] | None = None  # network API extension aliases; None: unknown

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CloudCatalog:
        return cls(
            flavors=list(data.get("flavors") or []),
            images=None
            if "images" in data and data["images"] is None
            else list(data.get("images") or []),
            networks=list(data.get("networks") or []),
            zones=dict(data.get("zones") or {}),
            volume_types=data.get("volume_types"),
            extensions=data.get("extensions"),
        )

    def as_data(self) -> dict[str, Any]:
        return dict(self.__dict__)


_FLAVOR_KEYS = ("name", "vcpus", "ram", "disk", "is_public")
_IMAGE_KEYS = ("name", "status", "created_at", "os_distro", "os_version", "visibility")
_NETWORK_KEYS = ("name", "is_router_external", "mtu", "availability_zones", "is_shared")


def read_catalog(conn: Any) -> CloudCatalog:
    """The cloud's flavors, images, networks, zones, volume types and network extensions."""
    from scs_testbed.cloud import as_dict, cloud_calls

    def pick(resource: Any, keys: tuple[str, ...]) -> dict[str, Any]:
        data = as_dict(resource)
        return {key: data.get(key) for key in keys}

    def optional(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception:  # a service or extension the cloud does not have
            return None

    with cloud_calls(conn):
        catalog = CloudCatalog(
            flavors=[pick(f, _FLAVOR_KEYS) for f in conn.compute.flavors(details=True)],
            # a project whose catalog has no image service sees no image at all
            images=_unless_no_service(
                lambda: [pick(i, _IMAGE_KEYS) for i in conn.image.images(status="active")]
            ),
            networks=[pick(n, _NETWORK_KEYS) for n in conn.network.networks()],
            zones={
                "compute": optional(
                    lambda: [z.name for z in conn.compute.availability_zones() if _available(z)]
                ),
                "volume": optional(
                    lambda: [z.name for z in conn.block_storage.availability_zones()]
                ),
                "network": optional(
                    lambda: sorted(
                        {
                            z.name
                            for z in conn.network.availability_zones()
                            if z.resource == "network"
                        }
                    )
                ),
            },
            volume_types=optional(
                lambda: [
                    {"name": t.name, "is_public": t.is_public} for t in conn.block_storage.types()
                ]
            ),
            extensions=optional(lambda: [e.alias for e in conn.network.extensions()]),
        )
    return catalog


def _unless_no_service(read: Callable[[], Any]) -> Any:
    """`read()`, or None when the project's service catalog has no such service; any other
    failure (an error answer, a timeout) is raised as it is."""
    from keystoneauth1.exceptions import EndpointNotFound
    from openstack.exceptions import ServiceDisabledException

    try:
        return read()
    except (EndpointNotFound, ServiceDisabledException):
        return None


def _available(zone: Any) -> bool:
    state = getattr(zone, "state", None) or {}
    return bool(state.get("available", True)) if isinstance(state, dict) else True
