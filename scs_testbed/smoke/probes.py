"""Small helpers of the checks: read a host's file, run a command for JSON, open the API."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke.suite import ApiTarget


def read_file(host: Any, path: str) -> str | None:
    """A file's text on a host, None when it does not exist."""
    found = host.file(path)
    return found.content_string if found.exists else None


def run_json(host: Any, command: str, what: str) -> Any:
    """Run `command` on the host and parse its stdout as JSON; fail saying what it found."""
    import json

    result = host.run(command)
    if result.rc != 0:
        pytest.fail(
            f"{what}: `{command}` exited {result.rc}: "
            f"{(result.stderr or result.stdout).strip()[-300:]} (expected it to answer)"
        )
    try:
        return json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"{what}: `{command}` printed no JSON: {result.stdout.strip()[-300:]!r}")


def open_api(target: ApiTarget, secure_file: str | None = None) -> Any:
    """An authenticated openstacksdk connection to `target` (TLS verified, request timeouts)."""
    import openstack.config
    from openstack.connection import Connection

    files = [target.clouds_file] if target.clouds_file else None
    secure = secure_file or target.secure_file
    config = openstack.config.OpenStackConfig(
        config_files=files, secure_files=[secure] if secure else None
    )
    extra: dict[str, Any] = {"cacert": target.cacert} if target.cacert else {}
    conn = Connection(config=config.get_one(cloud=target.cloud, **extra))
    # requests takes (connect, read); keystoneauth passes the session's value through
    conn.session.timeout = (10.0, 60.0)  # type: ignore[assignment]
    conn.authorize()
    return conn
