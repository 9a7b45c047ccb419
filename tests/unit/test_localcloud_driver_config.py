"""Which compute driver `localcloud up` configures, and what nova and neutron get for it."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from scs_testbed.errors import InputError
from scs_testbed.localcloud import configs
from scs_testbed.localcloud.layout import Layout

SECRET = {name: f"pw-{name}" for name in configs.SECRET_NAMES}


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / "lc")
    layout.create()
    for name in configs.COPIED_FILES:  # what pip puts into the venv
        path = layout.venv / "etc" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# copied\n")
    return layout


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def test_nspawn_driver_points_nova_and_neutron_at_the_host_layer(layout: Layout) -> None:
    rootfs = layout.images / "debian" / "rootfs"
    configs.render_configs(layout, SECRET, "nspawn", rootfs)
    nova = _ini(layout.etc / "nova/nova.conf")
    assert nova["DEFAULT"]["compute_driver"] == configs.DRIVERS["nspawn"]
    assert nova["scs_nspawn"]["state_dir"] == str(layout.hosts)
    assert nova["scs_nspawn"]["rootfs"] == str(rootfs)
    neutron = _ini(layout.etc / "neutron/neutron.conf")
    assert neutron["scs_nspawn"]["state_dir"] == str(layout.hosts)


def test_fake_driver_leaves_the_host_layer_off(layout: Layout) -> None:
    configs.render_configs(layout, SECRET, "fake")
    nova = _ini(layout.etc / "nova/nova.conf")
    assert nova["DEFAULT"]["compute_driver"] == "fake.FakeDriverWithoutFakeNodes"
    assert nova["scs_nspawn"]["state_dir"] == ""
    assert _ini(layout.etc / "neutron/neutron.conf")["scs_nspawn"]["state_dir"] == ""


def test_render_reports_only_changed_files(layout: Layout) -> None:
    first = configs.render_configs(layout, SECRET, "fake")
    assert "nova/nova.conf" in first and "neutron/neutron.conf" in first
    assert configs.render_configs(layout, SECRET, "fake") == []
    changed = configs.render_configs(layout, SECRET, "nspawn", Path("/img"))
    assert sorted(changed) == ["neutron/neutron.conf", "nova/nova.conf"]


def test_without_a_choice_the_driver_is_the_one_nova_is_configured_with(layout: Layout) -> None:
    """No separate record of the choice: the rendered nova.conf is the one answer."""
    assert configs.chosen_driver(layout) == configs.DEFAULT_DRIVER
    assert configs.chosen_driver(layout, "fake") == "fake"
    assert configs.chosen_driver(layout) == configs.DEFAULT_DRIVER  # nothing rendered yet
    configs.render_configs(layout, SECRET, "fake")
    assert configs.chosen_driver(layout) == configs.configured_driver(layout) == "fake"
    configs.render_configs(layout, SECRET, "nspawn", Path("/img"))
    assert configs.chosen_driver(layout) == "nspawn"
    assert not (layout.root / "driver").exists()


def test_unknown_driver_lists_the_choices(layout: Layout) -> None:
    with pytest.raises(InputError) as error:
        configs.chosen_driver(layout, "libvirt")
    assert "nspawn" in str(error.value.hint) and "fake" in str(error.value.hint)


def test_the_routers_let_through_exactly_the_mirrors() -> None:
    """nspawn.py runs in the services' venv and names the mirrors' address and ports itself:
    they must be those mirrors.py serves on."""
    from scs_testbed.localcloud import mirrors
    from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

    assert nspawn.MIRROR_ADDRESS == mirrors.MIRROR_ADDRESS
    assert tuple(sorted(nspawn.MIRROR_PORTS)) == tuple(sorted(mirrors.MIRROR_PORTS))
    local = _local_tfvars()  # the `local` environment points at them
    assert f'apt_proxy                 = "{mirrors.APT_PROXY_URL}"' in local
    assert f'pypi_index_url            = "{mirrors.PYPI_INDEX_URL}"' in local


def test_apt_cacher_config_binds_the_mirror_address(layout: Layout) -> None:
    from scs_testbed.localcloud import mirrors

    text = mirrors.apt_cacher_config(layout)
    assert f"BindAddress: {mirrors.MIRROR_ADDRESS}\n" in text
    assert f"Port: {mirrors.APT_PORT}\n" in text
    assert f"CacheDir: {layout.cache_root / 'mirrors' / 'apt'}\n" in text


def _local_tfvars() -> str:
    from tests import tiers

    return (tiers.REPO / "environments" / "local.tfvars").read_text()
