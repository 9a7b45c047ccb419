"""Remote state: configuration, the backend block, and what a second machine needs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from scs_testbed import remote_state
from scs_testbed.errors import InputError
from scs_testbed.terraform import Diagnostic


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "remote-state.json"
    monkeypatch.setenv(remote_state.CONFIG_VARIABLE, str(path))
    return path


def test_configured_once_no_secrets_private_file(config_file: Path) -> None:
    assert remote_state.load_config() is None
    store = remote_state.check_settings("https://s3.example.com/", "states", "any", "/team/a/")
    remote_state.save_config(store)
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    assert json.loads(config_file.read_text()) == {
        "endpoint": "https://s3.example.com",
        "bucket": "states",
        "region": "any",
        "prefix": "team/a",
    }
    assert remote_state.load_config() == store
    assert store.key("tb1") == "team/a/tb1/terraform.tfstate"
    assert remote_state.remove_config() and remote_state.load_config() is None


@pytest.mark.parametrize(
    ("endpoint", "bucket", "prefix", "message"),
    [
        ("s3.example.com", "states", "p", "is not an http(s) URL"),
        ("https://key:secret@s3.example.com", "states", "p", "carries credentials in the URL"),
        ("https://s3.example.com", "Bad_Bucket", "p", "is not a valid S3 bucket name"),
        ("https://s3.example.com", "states", "a/../b", "is not usable as an object key prefix"),
    ],
)
def test_bad_settings_are_refused(endpoint: str, bucket: str, prefix: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        remote_state.check_settings(endpoint, bucket, "r", prefix)


def test_a_config_with_credentials_in_it_is_refused(config_file: Path) -> None:
    config_file.parent.mkdir()
    config_file.write_text(
        json.dumps({"endpoint": "http://x", "bucket": "states", "secret_key": "s"})
    )
    with pytest.raises(InputError, match="unknown keys: secret_key") as caught:
        remote_state.load_config()
    assert "AWS_*" in str(caught.value.hint)


def test_the_backend_block_is_the_s3_compatible_set() -> None:
    store = remote_state.RemoteState("http://127.0.0.1:9000", "states")
    module = remote_state.add_backend(
        {"terraform": {}, "variable": {"prefix": {}, "public_key": {}}}, store, "tb1", "ovh"
    )
    backend = module["terraform"]["backend"]["s3"]
    assert backend["use_lockfile"] is True and backend["use_path_style"] is True
    assert backend["endpoints"] == {"s3": "http://127.0.0.1:9000"}
    assert backend["key"] == "scs-testbed/tb1/terraform.tfstate"
    assert not any("secret" in k or "access_key" in k for k in backend)
    record = module["output"][remote_state.RECORD_OUTPUT]["value"]
    assert record == {
        "name": "tb1",
        "environment": "ovh",
        "variables": {"prefix": "${var.prefix}", "public_key": "${var.public_key}"},
    }


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    store = remote_state.RemoteState("http://127.0.0.1:9000", "states")
    with pytest.raises(InputError, match="needs AWS_SECRET_ACCESS_KEY in the environment"):
        remote_state.require_credentials(store)


def test_a_held_lock_gets_a_hint_naming_holder_and_unlock() -> None:
    detail = (
        "Error message: operation error S3: PutObject, StatusCode: 412\nLock Info:\n"
        "  ID:        14253a69-a488\n  Path:      states/t/terraform.tfstate\n"
        "  Who:       alice@ci-7\n  Created:   2026-11-23 18:46:36.566 +0000 UTC\n"
    )
    error = Diagnostic("error", "Error acquiring the state lock", detail, None, None, None, None)
    hint = remote_state.lock_hint([error])
    assert hint is not None
    assert "by alice@ci-7 since 2026-11-23 18:46:36" in hint
    assert "terraform force-unlock 14253a69-a488" in hint
    assert remote_state.lock_hint([]) is None


def test_an_attached_testbed_without_its_key_never_gets_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scs_testbed.testbed_files import ensure_keypair
    from scs_testbed.workspace import Workspace

    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    workspace = Workspace.named("tb1")
    workspace.create()
    workspace.public_key.write_text("ssh-ed25519 AAAA scs-testbed-tb1\n")
    with pytest.raises(InputError, match="has no private key on this machine"):
        ensure_keypair(workspace)
    assert not workspace.private_key.exists()


def test_a_new_testbed_gets_the_backend_an_old_one_keeps_local_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scs_testbed.environment import load_environment
    from scs_testbed.testbed import resolve_target
    from scs_testbed.testbed_files import record_testbed, write_workspace

    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-never-written")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S3cr3t-never-written")
    env = load_environment("local")
    old = resolve_target(env, "old-local")
    write_workspace(old, "tofu")
    record_testbed(old, "tofu")  # deployed before the store was configured

    store = remote_state.check_settings("http://127.0.0.1:9000", "states", "r", "team")
    remote_state.save_config(store)
    new = resolve_target(env, "shared")
    write_workspace(new, "tofu")
    record_testbed(new, "tofu")
    module = json.loads(new.workspace.root_module.read_text())
    assert module["terraform"]["backend"]["s3"]["key"] == "team/shared/terraform.tfstate"
    assert module["output"][remote_state.RECORD_OUTPUT]["value"]["environment"] == "local"
    assert new.workspace.read_meta()["backend"]["bucket"] == "states"
    assert remote_state.is_remote(new.workspace.path)

    write_workspace(old, "tofu")  # rewritten after the configuration changed: still local
    assert "backend" not in json.loads(old.workspace.root_module.read_text())["terraform"]
    assert not remote_state.is_remote(old.workspace.path)
    for path in new.workspace.path.rglob("*"):  # the store's keys are nowhere in the workspace
        if path.is_file():
            assert "never-written" not in path.read_text(), path


def test_resources_in_store_counts_the_stored_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `status` asks the store: instances in the state; 0 for an emptied or gone one."""
    import io

    objects = {
        "team/tb1/terraform.tfstate": json.dumps(
            {"resources": [{"mode": "managed", "instances": [{}, {}]}, {"mode": "data"}]}
        ),
        "team/tb2/terraform.tfstate": json.dumps({"resources": []}),
    }

    class Missing(Exception):
        response = {"Error": {"Code": "NoSuchKey"}}

    class Client:
        def get_object(self, Bucket: str, Key: str) -> dict[str, object]:
            if Key not in objects:
                raise Missing()
            return {"Body": io.BytesIO(objects[Key].encode())}

    monkeypatch.setattr(remote_state, "_s3_client", lambda config: Client())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    store = remote_state.check_settings("https://s3.example.com", "states", "any", "team")
    assert remote_state.resources_in_store(store.as_record("tb1"), "tb1") == 2
    assert remote_state.resources_in_store(store.as_record("tb2"), "tb2") == 0
    assert remote_state.resources_in_store(store.as_record("tb3"), "tb3") == 0
    assert remote_state.resources_in_store(None, "tb1") is None  # local state
