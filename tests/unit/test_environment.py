"""Environments: parsing, merging with sources, catalog shadowing, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from scs_testbed.environment import Catalog, load_environment, parse_override
from scs_testbed.environment_files import key_lines
from scs_testbed.errors import InputError
from scs_testbed.module_variables import module_variables, type_problem
from scs_testbed.resources import builtin_env_dir


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.tfvars"
    path.write_text(text)
    return path


def test_module_variables_are_the_reference_names() -> None:
    declared = module_variables()
    for name in (
        "cloud_provider",
        "prefix",
        "flavor_manager",
        "flavor_node",
        "image",
        "image_node",
        "image_user",
        "public",
        "availability_zone",
        "volume_availability_zone",
        "network_availability_zone",
        "volume_type",
        "volume_size_base",
        "volume_size_storage",
        "number_of_nodes",
        "number_of_volumes",
        "enable_config_drive",
        "dns_nameservers",
        "configuration_version",
        "manager_version",
        "ceph_version",
        "openstack_version",
        "port_security_enabled",
        "router_enable_snat",
        "manager_boot_from_volume",
        "node_boot_from_volume",
        "mtu",
        "allowed_ssh_cidrs",
    ):
        assert name in declared, name
    assert declared["cloud_provider"].required
    assert declared["number_of_nodes"].default == 3
    assert declared["dns_nameservers"].type == "list(string)"
    assert all(v.description for v in declared.values())


def test_key_lines_skip_nested_and_strings() -> None:
    text = 'a = 1\n# c = 2\nb = {\n  c = 3\n}\nd = "e = 4"\nf = [\n  "x",\n]\ng = true\n'
    assert key_lines(text) == {"a": 1, "b": 3, "d": 6, "f": 7, "g": 10}


@pytest.mark.parametrize(
    ("type_expr", "value", "ok"),
    [
        ("string", "x", True),
        ("string", 3, True),
        ("string", [1], False),
        ("number", 3, True),
        ("number", "3", True),
        ("number", "big", False),
        ("number", True, False),
        ("bool", True, True),
        ("bool", "true", True),
        ("bool", "yes", False),
        ("list(string)", ["a", 1], True),
        ("list(string)", "a", False),
        ("list(string)", [["a"]], False),
        ("number", None, True),
    ],
)
def test_type_problem_follows_terraform_conversions(
    type_expr: str, value: object, ok: bool
) -> None:
    assert (type_problem(type_expr, value) is None) == ok


def test_merge_records_where_each_value_comes_from(tmp_path: Path) -> None:
    write(tmp_path, "mine", '# header\ncloud_provider = "c"\n\nnumber_of_nodes = "4"\n')
    env = load_environment("mine", Catalog.locate(tmp_path), ["flavor_node=SCS-16V-64"])
    assert env.values["cloud_provider"] == "c"
    assert env.values["number_of_nodes"] == 4  # converted like Terraform does
    assert env.values["flavor_node"] == "SCS-16V-64"
    assert env.values["number_of_volumes"] == 3
    assert env.where("cloud_provider").endswith("mine.tfvars:2")
    assert env.where("number_of_nodes").endswith("mine.tfvars:4")
    assert env.where("flavor_node") == "-o flavor_node"
    assert env.where("number_of_volumes") == "module default"
    assert env.header() == ["header"]


def test_user_directory_shadows_builtin_by_name(tmp_path: Path) -> None:
    write(tmp_path, "ovh", 'cloud_provider = "my-ovh"\n')
    catalog = Catalog.locate(tmp_path)
    assert set(catalog.names()) >= {"ovh", "regiocloud", "local"}
    env = load_environment("ovh", catalog)
    assert env.values["cloud_provider"] == "my-ovh"
    assert not env.builtin
    assert load_environment("regiocloud", catalog).builtin


def test_env_dir_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "mine", 'cloud_provider = "c"\n')
    monkeypatch.setenv("SCS_TESTBED_ENV_DIR", str(tmp_path))
    assert "mine" in Catalog.locate().names()


def test_missing_env_dir_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        Catalog.locate(tmp_path / "nope")


def test_unknown_environment_lists_known_ones() -> None:
    with pytest.raises(InputError) as caught:
        load_environment("regiocloudd", Catalog.locate(None))
    assert "did you mean 'regiocloud'" in caught.value.message
    assert "ovh" in caught.value.details[0]


def test_undeclared_key_names_closest_with_line(tmp_path: Path) -> None:
    write(tmp_path, "bad", 'cloud_provider = "c"\nflavour_node = "x"\n')
    with pytest.raises(InputError) as caught:
        load_environment("bad", Catalog.locate(tmp_path))
    assert caught.value.details == [
        f"{tmp_path / 'bad.tfvars'}:2: flavour_node is not a variable of the testbed module; "
        "did you mean flavor_node?"
    ] or caught.value.details[0].endswith(
        "bad.tfvars:2: flavour_node is not a variable of the testbed module; "
        "did you mean flavor_node?"
    )


def test_malformed_file_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "bad", 'cloud_provider = "c"\nnumber_of_nodes = = 3\n')
    with pytest.raises(InputError, match=r"bad\.tfvars:2: malformed variables file"):
        load_environment("bad", Catalog.locate(tmp_path))


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "bad", 'cloud_provider = "c"\ndns_nameservers = "8.8.8.8"\n')
    with pytest.raises(InputError) as caught:
        load_environment("bad", Catalog.locate(tmp_path))
    assert "bad.tfvars:2: dns_nameservers: a list is required" in caught.value.details[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("number_of_nodes=4", ("number_of_nodes", 4)),
        ("availability_zone=null", ("availability_zone", None)),
        ('dns_nameservers=["1.1.1.1"]', ("dns_nameservers", ["1.1.1.1"])),
        ("node_boot_from_volume=true", ("node_boot_from_volume", True)),
        ("image=Ubuntu 24.04", ("image", "Ubuntu 24.04")),
    ],
)
def test_override_values_take_the_variable_type(text: str, expected: tuple[str, object]) -> None:
    assert parse_override(text, module_variables()) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavor_nodes=x", "did you mean flavor_node"),
        ("number_of_nodes=many", "a number is required"),
        ("number_of_nodes", "expected key=value"),
    ],
)
def test_bad_overrides(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_override(text, module_variables())


def test_every_builtin_environment_loads_and_has_a_header() -> None:
    catalog = Catalog(None, builtin_env_dir())
    names = catalog.names()
    assert len(names) >= 11 and "local" in names
    for name in names:
        env = load_environment(name, catalog)
        assert env.values["cloud_provider"], name
        header = env.header()
        assert header and header[0].startswith("Provider:"), name
        assert any(line.startswith("Quirks") for line in header), name
