"""Bad input, table-driven: every case in tests/unit/bad_input/*.yaml runs the real CLI.

A case is data: argv, environment, files, the expected exit code and a fragment of the message.
For every case the suite asserts
  - the exit code,
  - no traceback on the terminal,
  - the message fragment (stdout + stderr, whitespace-normalised),
  - nothing created, changed or removed under the state directory,
  - the password planted in clouds.yaml appears in no output and no file the run wrote.

Placeholders in argv, env and file contents:
  {tmp}        the case's scratch directory        {state}   the state directory
  {envs}       the user's environment directory    {clouds}  the clouds.yaml path
  {secret}     the planted password                {python}  this interpreter
  {hang_url}   an auth URL that accepts connections and never answers
  {closed_url} an auth URL on which nothing listens
  {true}       /bin/true (an executable that is not Terraform)
File values: a string (text), or a mapping with one of
  text + mode (octal string), hex (raw bytes), fifo: true, repeat + times (a huge file).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.loopback import SilentServer

CASES_DIR = Path(__file__).parent / "bad_input"
REPO = Path(__file__).resolve().parents[2]
SECRET = "Pl4nted-" + hashlib.sha256(b"scs-testbed bad input").hexdigest()[:16]
CLASSES = range(1, 15)  # the classes of issue 8, numbered as there

DEFAULT_CLOUDS = """\
clouds:
  good:
    auth:
      auth_url: {closed_url}
      username: alice
      password: {secret}
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
  hanging:
    auth:
      auth_url: {hang_url}
      username: alice
      password: {secret}
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    api_timeout: 2
"""


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            case["_file"] = path.name
            cases.append(case)
    return cases


CASES = load_cases()


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    server = SilentServer()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    try:
        yield {
            "hang_url": f"http://127.0.0.1:{server.port}/v3",
            "closed_url": f"http://127.0.0.1:{closed_port}/v3",
        }
    finally:
        server.close()


def expand(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [expand(v, names) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, names) for k, v in value.items()}
    return value


def write_file(path: Path, spec: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        path.write_text(spec, encoding="utf-8")
        return
    if spec.get("fifo"):
        os.mkfifo(path)
    elif "hex" in spec:
        path.write_bytes(bytes.fromhex(spec["hex"]))
    elif "repeat" in spec:
        with path.open("w", encoding="utf-8") as out:
            for _ in range(int(spec["times"])):
                out.write(spec["repeat"])
    else:
        path.write_text(spec.get("text", ""), encoding="utf-8")
    if "mode" in spec:
        os.chmod(path, int(str(spec["mode"]), 8))


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and content hash (FIFOs and links by kind only)."""
    found: dict[str, tuple[int, str]] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = stat.filemode(info.st_mode)[0]
        found[os.fspath(path.relative_to(root))] = (info.st_mode, digest)
    return found


def files_with_secret(root: Path, skip: set[Path]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path in skip or not path.is_file() or path.is_symlink():
            continue
        if stat.S_ISFIFO(path.lstat().st_mode) or path.stat().st_size > 50_000_000:
            continue
        if SECRET.encode() in path.read_bytes():
            hits.append(os.fspath(path.relative_to(root)))
    return hits


def normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case: dict[str, Any], tmp_path: Path, urls: dict[str, str]) -> None:
    names = {
        "tmp": os.fspath(tmp_path),
        "state": os.fspath(tmp_path / "state"),
        "envs": os.fspath(tmp_path / "envs"),
        "clouds": os.fspath(tmp_path / "clouds.yaml"),
        "secret": SECRET,
        "python": sys.executable,
        "true": shutil.which("true") or "/bin/true",
        **urls,
    }
    for directory in ("home", "cwd", "state", "envs"):
        (tmp_path / directory).mkdir()
    files = {"clouds.yaml": DEFAULT_CLOUDS, **(case.get("files") or {})}
    planted: set[Path] = set()
    for rel, spec in files.items():
        path = tmp_path / expand(rel, names)
        write_file(path, expand(spec, names))
        planted.add(path)

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "SCS_TESTBED_")) and k not in ("XDG_STATE_HOME",)
    }
    env.update(
        HOME=names["tmp"] + "/home",
        SCS_TESTBED_STATE_DIR=names["state"],
        SCS_TESTBED_ENV_DIR=names["envs"],
        OS_CLIENT_CONFIG_FILE=names["clouds"],
        COLUMNS="200",
        NO_COLOR="1",
        PYTHONPATH=os.fspath(REPO),
    )
    for key, value in (case.get("env") or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = expand(str(value), names)

    before = snapshot(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-m", "scs_testbed", *expand([str(a) for a in case["argv"]], names)],
        cwd=tmp_path / "cwd",
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=case.get("timeout", 90),
        check=False,
    )
    output = done.stdout + done.stderr
    shown = f"\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == case["exit"], f"exit {done.returncode}, wanted {case['exit']}{shown}"
    assert "Traceback" not in output, shown
    for fragment in _as_list(case.get("message")):
        assert normalise(expand(fragment, names)) in normalise(output), shown
    for fragment in _as_list(case.get("not_in_output")):
        assert normalise(expand(fragment, names)) not in normalise(output), shown
    if case.get("stdout_json"):
        import json

        parsed = json.loads(done.stdout)
        assert isinstance(parsed, dict) and parsed.get("error"), shown
    assert snapshot(tmp_path / "state") == before, "the state directory changed" + shown
    assert SECRET not in output, "the planted password was printed" + shown
    assert files_with_secret(tmp_path, planted) == [], "the planted password was written"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def test_every_class_has_several_cases() -> None:
    per_class: dict[int, int] = {}
    for case in CASES:
        per_class[case["class"]] = per_class.get(case["class"], 0) + 1
    thin = [c for c in CLASSES if per_class.get(c, 0) < 2]
    assert not thin, f"classes with fewer than 2 cases: {thin} (have {per_class})"


def test_case_ids_are_unique_and_complete() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        missing = {"id", "class", "argv", "exit"} - set(case)
        assert not missing, f"{case.get('id')}: missing {missing}"
