"""The private state directory: its root, private directories and files, atomic records.

The whole state tree is private: directories 0700, files 0600 from the moment they exist.
Records are replaced atomically, so a crash or a full disk leaves the old record or the new
one, never half of one, and every record is read through one validating reader: a damaged
file becomes an InputError naming the file and the way out, never a traceback.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from scs_testbed.errors import InputError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record larger than this is not one of ours


def state_root() -> Path:
    """`SCS_TESTBED_STATE_DIR`, else `$XDG_STATE_HOME/scs-testbed`, else ~/.local/state/..."""
    explicit = os.environ.get("SCS_TESTBED_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "scs-testbed"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` with mode 0700, or tighten it to 0700 when it exists; return it.

    Parents that do not exist yet are created 0700 too (never with the umask's 0755);
    existing parents are the user's (~/.local/state and the like) and left as they are.
    """
    missing = []
    for parent in [path, *path.parents]:
        if os.path.lexists(parent):
            break
        missing.append(parent)
    for directory in reversed(missing):
        with suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(directory, PRIVATE_DIR)
            os.chmod(directory, PRIVATE_DIR)  # the umask may have narrowed it: exactly 0700
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def check_state_root() -> Path:
    """The state root if it is usable as one (or not there yet); InputError (exit 2) if not."""
    root = state_root()
    hint = "point SCS_TESTBED_STATE_DIR at a directory of yours (it is created when missing)"
    for path in [root, *root.parents]:
        if os.path.lexists(path) and not path.is_dir():
            where = "state directory" if path == root else f"state directory {root}: its parent"
            raise InputError(
                f"{where} {path} is a file, not a directory",
                hint=f"{hint}, or move {path} out of the way",
            )
    if root.is_dir() and not os.access(root, os.W_OK | os.X_OK):
        raise InputError(f"state directory {root} is not writable", hint=hint)
    return root


def ensure_state_root() -> Path:
    """The state root, created (or tightened to) 0700; call before writing anything in it."""
    root = check_state_root()
    try:
        return ensure_private_dir(root)
    except OSError as error:
        raise InputError(
            f"state directory {root} cannot be created ({error.strerror})",
            hint="point SCS_TESTBED_STATE_DIR at a directory of yours",
        ) from None


def private_file_for_append(path: Path) -> IO[str]:
    """Open `path` for appending text, created 0600 (never briefly wider) and kept 0600.

    For logs under the state root such as crash.log, which hold tracebacks.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # an older file may have been created wider
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8")


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically: temp file (0600) in the same dir, fsync, rename.

    A crash or a full disk leaves either the old content or the new, never a mix.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp creates it 0600
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    with suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class DamagedRecord(InputError):
    """A record of a testbed's working directory cannot be read or has the wrong shape."""

    def __init__(self, path: Path, problem: str, hint: str):
        super().__init__(f"damaged record: {path} {problem}", hint=hint)
        self.path = path
        self.problem = problem


def read_json_record(
    path: Path,
    hint: str,
    *,
    types: dict[str, type | tuple[type, ...]] | None = None,
    required: tuple[str, ...] = (),
    empty_is: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON object in `path`, checked for shape; DamagedRecord (exit 2) when it is not.

    `types` gives the JSON type of a key when it is present, `required` the keys that must be.
    `empty_is`: what an empty file stands for (Terraform leaves an empty state file behind);
    without it an empty file is damage.
    """

    def damaged(problem: str) -> DamagedRecord:
        return DamagedRecord(path, problem, hint)

    try:
        info = path.stat()
    except FileNotFoundError:
        raise damaged("is missing") from None
    except OSError as error:
        raise damaged(f"cannot be read ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise damaged("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise damaged("is not a regular file")
    if info.st_size > MAX_RECORD_BYTES:
        raise damaged(f"is too large ({info.st_size} bytes) to be a record of scs-testbed")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise damaged("is not text (binary or not UTF-8)") from None
    except OSError as error:
        raise damaged(f"cannot be read ({error.strerror})") from None
    if not text.strip():
        if empty_is is not None:
            return dict(empty_is)
        raise damaged("is empty")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise damaged(f"is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise damaged(f"holds a JSON {_json_kind(data)}, not an object")
    missing = [key for key in required if data.get(key) in (None, "")]
    if missing:
        raise damaged(f"lacks {', '.join(missing)}")
    for key, wanted in (types or {}).items():
        if key in data and not isinstance(data[key], wanted):
            found, expected = _json_kind(data[key]), _json_kind(wanted)
            raise damaged(f"has {_a(found)} for {key}, not {_a(expected)}")
    return data


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _json_kind(value: Any) -> str:
    """The JSON name of a value's type (or of a Python type / tuple of types)."""
    names = {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    if isinstance(value, tuple):
        return " or ".join(_json_kind(v) for v in value)
    if isinstance(value, type):
        return names.get(value, value.__name__)
    return names.get(type(value), type(value).__name__)
