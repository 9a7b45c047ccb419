"""Cloud connections: clouds.yaml checked first, request timeouts, endpoint errors, redaction."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scs_testbed import cloud, clouds_yaml, teardown
from scs_testbed.errors import EXIT_INPUT, InputError
from scs_testbed.redact import install_log_redaction, redact
from scs_testbed.workspace import Workspace

ENTRY = """\
clouds:
  {name}:
    auth:
      auth_url: {url}
      username: alice
      password: {password}
      project_name: demo
{extra}"""


@pytest.fixture
def hang_url() -> Iterator[str]:
    """An identity URL that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v3"
    finally:
        server.close()


@pytest.fixture
def clouds_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(cloud.TIMEOUT_VARIABLE, raising=False)
    monkeypatch.delenv(clouds_yaml.SECURE_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./clouds.yaml from the developer's checkout
    path = tmp_path / "clouds.yaml"
    monkeypatch.setenv(clouds_yaml.CONFIG_VARIABLE, str(path))
    return path


def write(path: Path, name: str, url: str, password: str = "pw-unit-1", extra: str = "") -> None:
    path.write_text(ENTRY.format(name=name, url=url, password=password, extra=extra))


def test_hanging_identity_times_out_quickly_naming_the_endpoint(
    clouds_file: Path, hang_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(clouds_file, "slow", hang_url)
    monkeypatch.setenv(cloud.TIMEOUT_VARIABLE, "0.5")
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        cloud.connect("slow")
    # version discovery and the token request wait at most the read timeout each
    assert time.monotonic() - started < 5
    assert caught.value.exit_code == EXIT_INPUT
    assert f"no answer from its identity service at {hang_url} within 0.5 s" in str(caught.value)
    assert cloud.TIMEOUT_VARIABLE in (caught.value.hint or "")


def test_timeouts_variable_then_api_timeout_then_defaults(
    clouds_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = str(clouds_file)
    assert cloud.request_timeouts("c", {}, where) == cloud.Timeouts(10.0, 60.0, "the default")
    limits = cloud.request_timeouts("c", {"api_timeout": 3}, where)
    assert (limits.connect, limits.read) == (3.0, 3.0)
    monkeypatch.setenv(cloud.TIMEOUT_VARIABLE, "120")
    limits = cloud.request_timeouts("c", {"api_timeout": 3}, where)
    assert (limits.connect, limits.read, limits.source) == (10.0, 120.0, cloud.TIMEOUT_VARIABLE)
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv(cloud.TIMEOUT_VARIABLE, bad)
        with pytest.raises(InputError, match=cloud.TIMEOUT_VARIABLE):
            cloud.request_timeouts("c", {}, where)


def test_every_request_gets_connect_and_read_timeouts(
    clouds_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(clouds_file, "c", "http://127.0.0.1:1/v3", extra="    api_timeout: 7\n")
    seen: dict[str, Any] = {}

    def fake_authenticate(conn: Any, *args: Any) -> None:
        seen["timeout"] = conn.session.timeout

    monkeypatch.setattr(cloud, "_authenticate", fake_authenticate)
    cloud.connect("c")
    assert seen["timeout"] == (7.0, 7.0)


def test_service_endpoint_errors_name_the_endpoint_redacted() -> None:
    from keystoneauth1 import exceptions as ks

    conn = SimpleNamespace(
        config=SimpleNamespace(name="prod"), session=SimpleNamespace(timeout=(10.0, 60.0))
    )
    with pytest.raises(InputError) as caught, cloud.cloud_calls(conn):
        raise ks.ConnectTimeout(
            "Request to https://bob:hunter22@nova.example:8774/v2.1/servers timed out"
        )
    assert str(caught.value) == (
        "cloud 'prod': no answer from https://bob:***@nova.example:8774/v2.1/servers within 60 s"
    )
    with (
        pytest.raises(InputError, match=r"cannot reach http://cinder.example/v3/x$"),
        cloud.cloud_calls(conn),
    ):
        raise ks.ConnectFailure(
            "Unable to establish connection to http://cinder.example/v3/x: HTTPConnectionPool(...)"
        )


def test_destroy_times_out_before_touching_the_cloud(
    clouds_file: Path, hang_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(clouds_file, "slow", hang_url, extra="    api_timeout: 0.5\n")
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    workspace = Workspace.named("tb")
    workspace.create()
    workspace.write_meta({"name": "tb", "cloud": "slow", "prefix": "tb", "state": "deployed"})
    # no Terraform state: destroy goes straight to the leftover check, which connects
    monkeypatch.setattr(
        teardown, "open_runner", lambda *a: SimpleNamespace(state_resources=lambda: [])
    )
    reporter = SimpleNamespace(note=lambda *a: None, step=lambda *a: None)
    with pytest.raises(InputError, match="no answer from its identity service"):
        teardown.destroy(workspace, None, reporter)  # type: ignore[arg-type]


def test_secrets_of_every_entry_are_registered_when_the_file_is_read(
    clouds_file: Path,
) -> None:
    clouds_file.write_text(
        "clouds:\n"
        "  a: {auth: {auth_url: 'https://u:url-pass-77@k.example/v3', password: pw-of-a-1}}\n"
        "  b: {auth: {application_credential_secret: appcred-of-b-2}}\n"
        "  c: {auth: {auth_url: 'u:bare-url-pass-3@k.example/v3'}}\n"
    )
    clouds_yaml.load_clouds()
    for secret in ("url-pass-77", "pw-of-a-1", "appcred-of-b-2", "bare-url-pass-3"):
        assert redact(f"x {secret} y") == "x *** y"


def test_secure_yaml_merges_and_keys_are_read_like_openstacksdk(
    clouds_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clouds_file.write_text(
        "clouds:\n"
        "  c: {auth-type: v3applicationcredential, auth: {auth-url: 'https://k.example/v3',"
        " application_credential_id: abc}}\n"
        "  vendor: {profile: betacloud, auth: {username: u, password: p-vendor-1}}\n"
    )
    secure = tmp_path / "secure.yaml"
    secure.write_text("clouds: {c: {auth: {application_credential_secret: s-merged-1}}}\n")
    monkeypatch.setenv(clouds_yaml.SECURE_VARIABLE, str(secure))
    found = clouds_yaml.load_clouds()
    assert found.secure_files() == [str(secure)]
    entry = clouds_yaml.cloud_entry(found, "c")
    assert entry["auth"]["application_credential_secret"] == "s-merged-1"
    clouds_yaml.cloud_entry(found, "vendor")  # the profile supplies auth_url


def test_no_clouds_yaml_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clouds_yaml.CONFIG_VARIABLE, raising=False)
    monkeypatch.delenv(clouds_yaml.SECURE_VARIABLE, raising=False)
    monkeypatch.setattr(clouds_yaml, "search_lists", lambda: ([str(tmp_path / "no.yaml")], []))
    with pytest.raises(InputError, match=r"cloud 'x' is not in clouds.yaml \(searched: "):
        clouds_yaml.cloud_entry(clouds_yaml.load_clouds(), "x")


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    with caplog.at_level(logging.DEBUG, logger="keystoneauth"):
        logging.getLogger("keystoneauth").debug("REQ: GET %s", "http://alice:s3cr3t-x@h/v3")
    assert "http://alice:***@h/v3" in caplog.text
    assert "s3cr3t-x" not in caplog.text


def test_gather_gives_results_by_key_and_the_first_error_in_key_order() -> None:
    assert cloud.gather({"a": lambda: 1, "b": lambda: 2}) == {"a": 1, "b": 2}
    assert cloud.gather({}) == {}
    second_failed = threading.Event()

    def first() -> None:  # fails only after the second did: order of keys, not of time
        second_failed.wait(10)
        raise ValueError("first")

    def second() -> None:
        second_failed.set()
        raise KeyError("second")

    with pytest.raises(ValueError, match="first"):
        cloud.gather({"one": first, "two": second})


def test_gather_past_its_deadline_names_the_services_of_the_reads_still_running() -> None:
    never = threading.Event()
    services = {"quotas": ("compute",), "flavors": ("network",), "queued": ("image",)}
    started = time.monotonic()
    try:
        with pytest.raises(cloud.Unanswered) as answered_one:
            jobs = {"quotas": never.wait, "flavors": str}
            cloud.gather(jobs, cloud.Deadline.after(0.3), services=services)
        with pytest.raises(cloud.Unanswered) as never_started:  # one worker: `queued` waits
            jobs = {"quotas": never.wait, "queued": never.wait}
            cloud.gather(jobs, cloud.Deadline.after(0.3), workers=1, services=services)
    finally:
        never.set()
    assert time.monotonic() - started < 5
    assert answered_one.value.limit == 0.3
    assert answered_one.value.services == ["compute"]  # not the network service that answered
    assert never_started.value.services == ["compute"]  # not the image service never asked


def test_a_failed_read_beats_no_answer() -> None:
    never = threading.Event()

    def broken() -> None:
        raise KeyError("broken")

    try:
        with pytest.raises(KeyError):
            cloud.gather({"hangs": never.wait, "broken": broken}, cloud.Deadline.after(0.3))
    finally:
        never.set()


def test_no_answer_in_cloud_calls_names_the_services_and_the_limit() -> None:
    conn = SimpleNamespace(
        config=SimpleNamespace(name="prod"),
        endpoint_for=lambda service: f"https://bob:hunter22@{service}.example/v1",
    )
    with pytest.raises(InputError) as caught, cloud.cloud_calls(conn):
        raise cloud.Unanswered(3.0, ["compute", "block-storage"])
    assert str(caught.value) == (
        "cloud 'prod': no answer from the compute service at https://bob:***@compute.example/v1 "
        "and the block storage service at https://bob:***@block-storage.example/v1 within 3 s"
    )
    assert cloud.TIMEOUT_VARIABLE in (caught.value.hint or "")
