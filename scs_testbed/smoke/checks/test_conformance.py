"""SCS standards that are cheap to check: flavor names (scs-0100), image metadata (scs-0102)."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings

pytestmark = [pytest.mark.conformance, pytest.mark.api]


def test_flavor_names_match_properties(cloud: Any) -> None:
    flavors = [
        {"name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk}
        for f in cloud.compute.flavors()
    ]
    problems = findings.flavor_name_problems(flavors)
    assert not problems, "\n".join(problems)


def test_public_image_metadata(cloud: Any) -> None:
    images = []
    for image in cloud.image.images():
        data = dict(image.properties or {})
        data.update(
            name=image.name,
            visibility=image.visibility,
            architecture=image.architecture,
            min_disk=image.min_disk,
            min_ram=image.min_ram,
            os_distro=image.os_distro,
            os_version=image.os_version,
            hw_disk_bus=image.hw_disk_bus,
        )
        images.append(data)
    problems = findings.image_metadata_problems(images)
    assert not problems, "\n".join(problems)
