"""Fixtures of the smoke suite: its configuration, testinfra hosts, the OpenStack API.

The configuration comes from the JSON file `--smoke-config` names (written by
`scs_testbed.smoke.suite`). Checks of a later deploy_mode than the testbed's are deselected
(they count as not run, never as passed). Hosts are reached with the testbed's own ssh_config
(pinned host keys, nodes through the manager); the API with openstacksdk.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scs_testbed.smoke.probes import open_api, read_file
from scs_testbed.smoke.suite import CONFIG_VARIABLE, GROUPS, MODES, ApiTarget, SmokeConfig

# The testbed's own API credentials and CA on the manager (osism/testbed's configuration
# repository: environments/openstack/clouds.yml + secure.yml, the kolla CA)
CONFIGURATION = "/opt/configuration/environments"
REMOTE_CLOUDS = f"{CONFIGURATION}/openstack/clouds.yml"
REMOTE_SECURE = f"{CONFIGURATION}/openstack/secure.yml"
REMOTE_CA = f"{CONFIGURATION}/kolla/certificates/ca/testbed.crt"
REMOTE_CLOUD = "admin"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--smoke-config", default=os.environ.get(CONFIG_VARIABLE), help="the checks' JSON config"
    )


def _config(config: pytest.Config) -> SmokeConfig:
    path = config.getoption("--smoke-config")
    if not path:
        raise pytest.UsageError("--smoke-config FILE is required (scs-testbed smoke writes it)")
    return SmokeConfig.from_json(Path(path).read_text(encoding="utf-8"))


def _needs(item: pytest.Item) -> str:
    marker = item.get_closest_marker("needs")
    if marker:
        return str(marker.args[0])
    module = getattr(item, "module", None)
    group = (module.__name__.rsplit(".", 1)[-1] if module else "").removeprefix("test_")
    return GROUPS.get(group, ("manager", ""))[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out checks of a later deploy_mode than the testbed's."""
    mode = MODES.index(_config(config).deploy_mode)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if MODES.index(_needs(item)) <= mode else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`host`: the manager and every node; `node`: every node (ids are the aliases)."""
    smoke = _config(metafunc.config)
    everyone = [h for h in [smoke.manager, *smoke.nodes] if h]
    for name, hosts in (("host", everyone), ("node", smoke.nodes)):
        if name in metafunc.fixturenames:
            # an empty list would make pytest skip silently: a missing host is a failure
            metafunc.parametrize(name, hosts or ["<none>"])


@pytest.fixture(scope="session")
def smoke(pytestconfig: pytest.Config) -> SmokeConfig:
    """The run's configuration."""
    return _config(pytestconfig)


@pytest.fixture(scope="session")
def hosts(smoke: SmokeConfig) -> Callable[[str], Any]:
    """testinfra hosts by alias (manager, node-N), over the testbed's ssh_config."""
    import testinfra

    made: dict[str, Any] = {}

    def get(alias: str) -> Any:
        if alias == "<none>" or not smoke.ssh_config:
            pytest.fail(
                "no host to check: the configuration names no hosts or no ssh_config "
                "(expected the testbed's manager and nodes)"
            )
        if alias not in made:
            made[alias] = testinfra.get_host(
                f"ssh://{alias}", ssh_config=smoke.ssh_config, sudo=smoke.sudo
            )
        return made[alias]

    return get


@pytest.fixture(scope="session")
def manager(smoke: SmokeConfig, hosts: Callable[[str], Any]) -> Any:
    """The manager as a testinfra host."""
    return hosts(smoke.manager or "<none>")


@pytest.fixture(scope="session")
def cloud(smoke: SmokeConfig, hosts: Callable[[str], Any]) -> Iterator[Any]:
    """The OpenStack API under test: the configured cloud, else the testbed's own (its
    clouds.yml, secure.yml and CA read from the manager; reached through `scs-testbed tunnel`)."""
    target = smoke.api
    with tempfile.TemporaryDirectory(prefix="scs-smoke-") as tmp:
        secure = None
        if not target.cloud:
            if not smoke.manager or not smoke.ssh_config:
                pytest.fail("no OpenStack API to check: give --cloud (a clouds.yaml entry)")
            host = hosts(smoke.manager)
            texts = {p: read_file(host, p) for p in (REMOTE_CLOUDS, REMOTE_SECURE, REMOTE_CA)}
            missing = [p for p, text in texts.items() if text is None]
            if texts[REMOTE_CLOUDS] is None:
                pytest.fail(
                    f"the manager has no {REMOTE_CLOUDS} (expected the testbed's API "
                    "credentials there once OpenStack is deployed); or give --cloud"
                )
            for path, text in texts.items():
                if text is not None:
                    local = Path(tmp) / Path(path).name
                    local.write_text(text, encoding="utf-8")
                    local.chmod(0o600)
            secure = str(Path(tmp) / "secure.yml") if REMOTE_SECURE not in missing else None
            ca = str(Path(tmp) / "testbed.crt") if REMOTE_CA not in missing else None
            target = ApiTarget(REMOTE_CLOUD, str(Path(tmp) / "clouds.yml"), ca)
        try:
            conn = open_api(target, secure)
        except Exception as error:
            pytest.fail(
                f"cannot use the OpenStack API of cloud {target.cloud!r}: "
                f"{type(error).__name__}: {error} (expected a token; is `scs-testbed tunnel` "
                "up, and the CA right?)"
            )
        try:
            yield conn
        finally:
            conn.close()
