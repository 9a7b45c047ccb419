"""`env new`: read a cloud, choose the testbed's values (`proposal`), write them as a new
environment file with every choice explained, then run the preflight against the cloud.

The file is never written over an existing one without `force`, and not at all when the cloud
cannot host a testbed (`propose` raises first).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_testbed.errors import InputError
from scs_testbed.proposal import Choices, Proposal, propose, render_tfvars

if TYPE_CHECKING:
    from pathlib import Path

    from scs_testbed.preflight import PreflightReport


@dataclass
class NewEnvironment:
    """What `env new` did: the file, whether it shadows a built-in, the choices, the preflight."""

    path: Path
    shadows: bool
    proposal: Proposal
    report: PreflightReport


def new_environment(
    name: str,
    cloud: str,
    choices: Choices,
    env_dir: Any,
    force: bool,
    choose_public: Callable[[list[str]], str | None] = lambda external: None,
) -> NewEnvironment:
    """Read `cloud`, write `<name>.tfvars` for it and run the preflight.

    `choose_public(external networks)` is asked when several external networks are there and
    none was chosen (None: propose() says that one must be chosen).
    """
    from dataclasses import replace

    from scs_testbed.cloud import connect
    from scs_testbed.cloud_catalog import read_catalog
    from scs_testbed.environment import Catalog, load_environment
    from scs_testbed.preflight import run_preflight

    environment_target(name, env_dir, force)  # bad name, existing file: before the cloud
    conn = connect(cloud)
    catalog = read_catalog(conn)
    external = sorted(str(n.get("name")) for n in catalog.networks if n.get("is_router_external"))
    if choices.public is None and len(external) > 1:
        choices = replace(choices, public=choose_public(external))
    proposal = propose(catalog, cloud, choices)
    path, shadows = write_environment(name, render_tfvars(proposal, name), env_dir, force)
    env = load_environment(str(path), Catalog.locate(env_dir))
    return NewEnvironment(path, shadows, proposal, run_preflight(conn, cloud, env.values))


ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def environment_target(name: str, env_dir: Any, force: bool) -> Any:
    """The file `env new` would write; InputError when the name or an existing file forbids it.

    Called before the cloud is read, and again just before writing.
    """
    import os
    from pathlib import Path

    from scs_testbed.environment import SUFFIX, Catalog

    if not ENV_NAME.match(name):
        raise InputError(
            f"environment name {name!r} is not usable as a file name",
            hint="lower-case letters, digits, '-', '_' and '.', e.g. mycloud",
        )
    wanted = _requested_env_dir(env_dir)
    if wanted is not None and not os.path.lexists(wanted):
        # a new user's first environment: the directory is made when the file is written
        path = wanted / f"{name}{SUFFIX}"
    else:
        catalog = Catalog.locate(env_dir)
        path = (catalog.user_dir or Path("environments")) / f"{name}{SUFFIX}"
    if os.path.lexists(path) and not force:
        raise InputError(
            f"environment file {path} exists",
            hint="pass --force to replace it, or choose another name",
        )
    return path


def _requested_env_dir(env_dir: Any) -> Any:
    """--env-dir, else $SCS_TESTBED_ENV_DIR, else None (as Catalog.locate reads them)."""
    import os
    from pathlib import Path

    from scs_testbed.environment import ENV_DIR_VARIABLE

    if env_dir is not None:
        return Path(env_dir).expanduser()
    named = os.environ.get(ENV_DIR_VARIABLE)
    return Path(named).expanduser() if named else None


def write_environment(name: str, text: str, env_dir: Any, force: bool) -> tuple[Any, bool]:
    """Write `<name>.tfvars` into the user's environment directory; (path, shadows a built-in).

    Refuses to replace an existing file without `force`; ./environments is created when the
    user has no environment directory yet.
    """
    import os

    from scs_testbed.environment import Catalog
    from scs_testbed.state_dir import write_atomic

    path = environment_target(name, env_dir, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.locate(env_dir)
    write_atomic(path, text)
    os.chmod(path, 0o644)  # an environment holds no secrets; others may read it like any file
    return path, name in {n for n, (_, builtin) in catalog.paths().items() if builtin}
