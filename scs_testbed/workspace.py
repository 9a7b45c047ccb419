"""Each testbed's own working directory in the state dir (mode 0700, keys and state 0600)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def state_root() -> Path:
    """`SCS_TESTBED_STATE_DIR`, else `$XDG_STATE_HOME/scs-testbed`, else ~/.local/state/..."""
    explicit = os.environ.get("SCS_TESTBED_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "scs-testbed"


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"invalid testbed name {name!r}",
            hint="use lower-case letters, digits and '-', starting with a letter (max 40).",
        )
    return name


@dataclass(frozen=True)
class Workspace:
    """Paths of one testbed's working directory; the files are created by their owners."""

    name: str
    path: Path

    @classmethod
    def named(cls, name: str) -> Workspace:
        return cls(check_name(name), state_root() / "testbeds" / name)

    @property
    def exists(self) -> bool:
        return self.meta_file.is_file()

    @property
    def meta_file(self) -> Path:
        return self.path / "testbed.json"

    @property
    def root_module(self) -> Path:
        return self.path / "main.tf.json"

    @property
    def tfvars_file(self) -> Path:
        return self.path / "terraform.tfvars.json"

    @property
    def state_file(self) -> Path:
        return self.path / "terraform.tfstate"

    @property
    def outputs_file(self) -> Path:
        return self.path / "outputs.json"

    @property
    def private_key(self) -> Path:
        return self.path / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.path / "id_ed25519.pub"

    @property
    def ssh_config(self) -> Path:
        return self.path / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.path / "known_hosts"

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    def create(self) -> None:
        """Create the directory with mode 0700 (and tighten it if it already exists)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)

    def write_private(self, path: Path, text: str) -> None:
        """Write a file readable by the owner only (created 0600, never briefly wider)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(path, 0o600)

    def read_meta(self) -> dict[str, Any]:
        if not self.meta_file.is_file():
            return {}
        return dict(json.loads(self.meta_file.read_text(encoding="utf-8")))

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.write_private(self.meta_file, json.dumps(meta, indent=2, sort_keys=True) + "\n")

    def read_outputs(self) -> dict[str, Any]:
        """Terraform outputs saved after apply, as plain values ({name: value})."""
        if not self.outputs_file.is_file():
            raise InputError(
                f"testbed {self.name!r} has no outputs yet",
                hint=f"deploy it first: scs-testbed deploy --name {self.name} -e ENV",
            )
        return dict(json.loads(self.outputs_file.read_text(encoding="utf-8")))


def list_workspaces() -> list[Workspace]:
    base = state_root() / "testbeds"
    if not base.is_dir():
        return []
    return [
        Workspace(p.name, p)
        for p in sorted(base.iterdir())
        if p.is_dir() and (p / "testbed.json").is_file()
    ]


def find_workspace(name: str | None, environment: str | None = None) -> Workspace:
    """The testbed called `name`; else the only one (of `environment`, when given)."""
    known = list_workspaces()
    choices = ("name one of: " + ", ".join(w.name for w in known)) if known else ""
    if name:
        workspace = Workspace.named(name)
        if not workspace.exists:
            raise InputError(
                f"no testbed named {name!r}",
                hint=choices or "deploy one: scs-testbed deploy -e ENV",
            )
        return workspace
    if environment:
        known = [w for w in known if w.read_meta().get("environment") == environment]
    if len(known) == 1:
        return known[0]
    if not known:
        where = f" of environment {environment!r}" if environment else ""
        raise InputError(
            f"there is no testbed{where}", hint="deploy one: scs-testbed deploy -e ENV"
        )
    raise InputError("several testbeds exist; name one", hint=choices)
