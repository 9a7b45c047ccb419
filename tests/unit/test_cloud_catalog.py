"""`env new`: choices from a cloud's catalog (golden files of openstacksdk resources)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scs_testbed.cloud_catalog import CloudCatalog
from scs_testbed.environment import Catalog, load_environment, missing_required
from scs_testbed.errors import InputError, PreflightError
from scs_testbed.new_environment import write_environment
from scs_testbed.proposal import Choices, propose, render_tfvars

GOLDEN = Path(__file__).parent / "golden" / "catalogs"


def catalog(name: str) -> CloudCatalog:
    return CloudCatalog.from_data(json.loads((GOLDEN / f"{name}.json").read_text()))


def test_scs_names_preferred_smallest_fitting_newest_image() -> None:
    proposal = propose(catalog("scs-standard"), "regio")
    values = proposal.values
    assert (values["flavor_manager"], values["flavor_node"]) == ("SCS-4V-16", "SCS-8V-32")
    assert values["manager_boot_from_volume"] is True and values["node_boot_from_volume"] is True
    assert values["image"] == "Ubuntu 24.04" and "created 2025-06-01" in proposal.why["image"]
    assert values["image_user"] == "ubuntu"
    assert values["public"] == "public"
    assert (values["availability_zone"], values["network_availability_zone"]) == ("nova", "nova")
    assert values["number_of_volumes"] == 3 and values["volume_type"] is None
    assert "types: hdd, ssd" in proposal.why["volume_type"]
    assert "port_security_enabled" not in values
    assert "SCS standard names preferred" in proposal.why["flavor_node"]


def test_odd_names_properties_local_disks_and_several_external_networks() -> None:
    cat = catalog("odd-names")
    with pytest.raises(InputError, match="2 external networks: ext-a, ext-b") as caught:
        propose(cat, "odd")
    assert "--public" in str(caught.value.hint)
    proposal = propose(cat, "odd", Choices(public="ext-b"))
    values = proposal.values
    assert (values["flavor_manager"], values["flavor_node"]) == ("m1.xlarge", "c2.2xl")
    assert values["node_boot_from_volume"] is False  # 100 GB local disk
    assert values["image"] == "img-2025-noble"  # by os_distro/os_version; the queued one is not
    assert "properties (os_distro=ubuntu, os_version=24.04.2)" in proposal.why["image"]
    assert values["availability_zone"] == "az1"
    assert (
        values["volume_availability_zone"] is None and values["network_availability_zone"] is None
    )
    assert values["number_of_volumes"] == 0  # no volume service: the nodes' local disks
    assert values["port_security_enabled"] is None
    assert "MTUs seen: 1400, 1500" in proposal.why["mtu"]


def test_debian_by_name_when_there_is_no_ubuntu() -> None:
    proposal = propose(catalog("debian-only"), "ovhish")
    assert proposal.values["image"] == "debian-12-genericcloud"
    assert proposal.values["image_user"] == "debian"
    assert proposal.values["network_availability_zone"] is None
    assert proposal.values["manager_boot_from_volume"] is False  # 50 GB local disk


def test_a_cloud_that_cannot_host_gets_everything_missing_named() -> None:
    with pytest.raises(PreflightError, match="cannot host a testbed: 3 thing") as caught:
        propose(catalog("cannot-host"), "small")
    details = "\n".join(caught.value.details)
    assert "a node flavor with at least 8 vCPU and 30 GiB RAM" in details
    assert "the biggest is medium (4 vCPU, 8 GiB RAM, 20 GB disk)" in details
    assert "an Ubuntu 24.04 (or Debian 12) image (active images: cirros)" in details
    assert "an external network" in details
    assert "nothing was written" in str(caught.value.hint)


def test_given_names_are_checked() -> None:
    cat = catalog("scs-standard")
    with pytest.raises(InputError, match="--flavor-node nope: no such flavor"):
        propose(cat, "c", Choices(flavor_node="nope"))
    with pytest.raises(PreflightError) as caught:
        propose(cat, "c", Choices(flavor_node="SCS-4V-16"))
    assert "below the node minimum" in caught.value.details[0]
    with pytest.raises(InputError, match="--availability-zone az9: not a compute zone"):
        propose(cat, "c", Choices(availability_zone="az9"))


def test_the_written_environment_validates_and_explains_each_value(tmp_path: Path) -> None:
    proposal = propose(catalog("scs-standard"), "regio")
    text = render_tfvars(proposal, "myregio")
    path, shadows = write_environment("myregio", text, tmp_path, force=False)
    assert (path, shadows) == (tmp_path / "myregio.tfvars", False)
    env = load_environment("myregio", Catalog.locate(tmp_path))
    assert missing_required(env) == []
    assert env.values["flavor_node"] == "SCS-8V-32" and env.values["mtu"] is None
    for key in proposal.values:  # every value sits under the comment that explains it
        line = env.file_lines[key]
        assert text.splitlines()[line - 2] == f"# {proposal.why[key]}"
    with pytest.raises(InputError, match="exists"):
        write_environment("myregio", text, tmp_path, force=False)
    assert write_environment("myregio", text + "\n", tmp_path, force=True)[0] == path
    with pytest.raises(InputError, match="not usable as a file name"):
        write_environment("../evil", text, tmp_path, force=False)


class FakeConnection:
    current_project_id = "p-1"


@pytest.fixture
def fake_cloud(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """`env new` against a golden catalog: connect, read_catalog and the preflight faked."""
    import scs_testbed.cloud
    import scs_testbed.cloud_catalog
    import scs_testbed.preflight
    from scs_testbed.preflight import CheckRow, PreflightReport

    seen: dict[str, object] = {"catalog": "scs-standard"}
    monkeypatch.setattr(scs_testbed.cloud, "connect", lambda cloud: FakeConnection())
    monkeypatch.setattr(
        scs_testbed.cloud_catalog, "read_catalog", lambda conn: catalog(str(seen["catalog"]))
    )

    def preflight(conn: object, cloud: str, values: dict[str, object], **_: object) -> object:
        seen["values"] = values
        return PreflightReport(cloud, "p-1", [CheckRow("flavor node", True, message="ok")])

    monkeypatch.setattr(scs_testbed.preflight, "run_preflight", preflight)
    return seen


def test_env_new_writes_validates_and_shows_the_preflight(
    tmp_path: Path, fake_cloud: dict[str, object]
) -> None:
    from typer.testing import CliRunner

    from scs_testbed.cli import app

    argv = ["env", "new", "mine", "--cloud", "regio", "--env-dir", str(tmp_path), "--json"]
    done = CliRunner().invoke(app, argv)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["path"] == str(tmp_path / "mine.tfvars")
    assert answer["values"]["flavor_node"] == "SCS-8V-32" and answer["preflight"]["ok"]
    assert fake_cloud["values"]["flavor_node"] == "SCS-8V-32"  # the preflight read the file
    again = CliRunner().invoke(app, argv)
    assert getattr(again.exception, "exit_code", None) == 2  # InputError, as main() exits
    assert "exists" in str(again.exception)


@pytest.mark.parametrize(
    ("name", "extra", "code"),
    [("cannot-host", [], 3), ("odd-names", ["--yes"], 2)],
)
def test_env_new_writes_nothing_when_it_cannot(
    tmp_path: Path, fake_cloud: dict[str, object], name: str, extra: list[str], code: int
) -> None:
    from typer.testing import CliRunner

    from scs_testbed.cli import app

    fake_cloud["catalog"] = name
    argv = ["env", "new", "mine", "--cloud", "c", "--env-dir", str(tmp_path), *extra]
    done = CliRunner().invoke(app, argv)
    assert getattr(done.exception, "exit_code", None) == code, done.output
    assert list(tmp_path.iterdir()) == []


def test_a_project_without_an_image_service_sees_no_image() -> None:
    data = json.loads((GOLDEN / "scs-standard.json").read_text())
    data["images"] = None  # read_catalog: the project's service catalog has no image service
    with pytest.raises(PreflightError, match="1 thing") as caught:
        propose(CloudCatalog.from_data(data), "c")
    assert "has no image service, so it sees no image at all" in caught.value.details[0]


def test_a_new_env_dir_is_made_only_when_the_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scs_testbed.new_environment import environment_target

    wanted = tmp_path / "mine" / "environments"
    monkeypatch.setenv("SCS_TESTBED_ENV_DIR", str(wanted))
    assert environment_target("new1", None, False) == wanted / "new1.tfvars"
    assert not wanted.exists()  # checking the target writes nothing
    path, shadows = write_environment("new1", 'cloud_provider = "c"\n', None, False)
    assert path == wanted / "new1.tfvars" and path.is_file() and not shadows
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("SCS_TESTBED_ENV_DIR", str(tmp_path / "afile"))
    with pytest.raises(InputError, match="is not a directory"):
        environment_target("new1", None, False)
