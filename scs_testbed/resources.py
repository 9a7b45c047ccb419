"""Find the data folders (terraform/, environments/, bootstrap/) from a checkout or a wheel."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

DATA_FOLDERS = ("terraform", "environments", "bootstrap")


@cache
def data_dir(name: str) -> Path:
    """Path of a shipped data folder.

    An installed wheel carries them as `scs_testbed/_data/<name>` (hatch force-include);
    a source checkout or editable install has them at the repository's top level.
    """
    if name not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {name!r}")
    packaged = Path(str(files("scs_testbed"))) / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"data folder {name!r} is missing from the installation")


def module_dir() -> Path:
    return data_dir("terraform")


def builtin_env_dir() -> Path:
    return data_dir("environments")


def bootstrap_dir() -> Path:
    return data_dir("bootstrap")
