"""The localcloud package: its public names, loaded from their modules on first use."""

from __future__ import annotations

import pytest

from tests.unit.test_cli import loaded_modules


def test_a_module_of_the_package_runs_without_the_others() -> None:
    """Importing `localcloud.layout` (as the netns tests and the benchmarks do) does not run
    `localcloud.cloud`, whose modules import the package: no loop through its __init__."""
    loaded = loaded_modules("scs_testbed.localcloud.layout")
    assert [m for m in loaded if m.startswith("scs_testbed.localcloud")] == [
        "scs_testbed.localcloud",
        "scs_testbed.localcloud.layout",
    ]


def test_the_public_names_come_from_their_modules() -> None:
    from scs_testbed import localcloud
    from scs_testbed.localcloud import Layout, cloud, image, layout, provision, up

    assert Layout is layout.Layout
    assert up is cloud.up
    assert localcloud.parse_quotas is provision.parse_quotas
    assert image.__name__ == "scs_testbed.localcloud.image"  # a module, not a name
    assert sorted(localcloud.__all__) == localcloud.__all__
    for name in localcloud.__all__:
        assert getattr(localcloud, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        localcloud.nothing  # noqa: B018
