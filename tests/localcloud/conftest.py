"""The local cloud, started once per session (or reused when it already runs).

The fixture calls `localcloud.up()`, which is idempotent: a running cloud costs a few seconds
(it re-checks readiness and resets the testbed project's quotas), a stopped one is started.
The cloud is left running afterwards so other tiers and people can use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LAST_MODULES = ("test_down.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`down` stops the cloud for everyone: its module runs after all other tests."""
    items.sort(key=lambda item: Path(str(item.fspath)).name in LAST_MODULES)


@dataclass
class LocalCloud:
    clouds_file: Path
    project: Any  # openstack.connection.Connection as the testbed project's user
    admin: Any  # ... as the cloud admin
    project_id: str


def connect(clouds_file: Path, cloud: str) -> Any:
    """An openstacksdk connection from the written clouds.yaml, as users make one."""
    import openstack.config
    from openstack.connection import Connection

    config = openstack.config.OpenStackConfig(config_files=[str(clouds_file)])
    return Connection(config=config.get_one(cloud=cloud))


def start_cloud() -> LocalCloud:
    from scs_testbed import localcloud

    result = localcloud.up(progress=lambda _message: None)
    clouds = Path(result.clouds_file)
    return LocalCloud(
        clouds_file=clouds,
        project=connect(clouds, localcloud.CLOUD_NAME),
        admin=connect(clouds, localcloud.ADMIN_CLOUD_NAME),
        project_id=result.project_id,
    )


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloud]:
    yield start_cloud()


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `scs-testbed ARGS` as a user would."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
