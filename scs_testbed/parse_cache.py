"""Results of parsing HCL, kept in the user's cache directory under the hash of the text.

python-hcl2 (lark) takes a quarter of a second and more to load and parse a file; every command
that loads an environment parses the module's variables.tf and the environment's tfvars. A
result is stored as JSON under the hash of the parser's version, the kind of file and its text,
so a changed file (or another parser) is parsed anew. Only successful parses are stored: an
error is always reported by the parser itself, with its line.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any


def load(kind: str, text: str) -> Any | None:
    """What `store` kept for this text (None: not cached, or unreadable)."""
    try:
        return json.loads(_file(kind, text).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(kind: str, text: str, result: Any) -> None:
    """Keep `result` (JSON data) for this text; a cache that cannot be written costs a parse."""
    path = _file(kind, text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        temp.write_text(json.dumps(result), encoding="utf-8")
        temp.replace(path)  # whole or not at all: a reader never sees half a file
    except (OSError, TypeError, ValueError):
        pass


def _file(kind: str, text: str) -> Path:
    digest = hashlib.sha256(f"{_parser()}\0{kind}\0{text}".encode()).hexdigest()[:24]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "scs-testbed" / f"{kind}-{digest}.json"


@cache
def _parser() -> str:
    """python-hcl2's version, looked up once per process (every load and store names it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("python-hcl2")
    except PackageNotFoundError:
        return "?"
