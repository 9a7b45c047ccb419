"""clouds.yaml, found the way openstacksdk finds it and checked before openstacksdk sees it.

openstacksdk skips a config file it cannot parse or read and silently falls through to the
next one (or to none), so a typo surfaces as "cloud not found" or a stack trace. Here the file
is found with openstacksdk's own search list, read once, its secrets registered for redaction
(all entries, before anything can print them), and the chosen entry checked against a small
table of what each auth_type needs. Every problem names the file, the entry and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scs_testbed.errors import InputError
from scs_testbed.redact import URL_PASSWORD, redact, remember_secret, remember_secrets_in

CONFIG_VARIABLE = "OS_CLIENT_CONFIG_FILE"
SECURE_VARIABLE = "OS_CLIENT_SECURE_FILE"
SEARCHED = (
    "$OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, "
    "/etc/openstack/clouds.yaml"
)
ENTRY_EXAMPLE = (
    "auth: {auth_url: https://keystone.example.com:5000/v3, username: ..., password: ..., "
    "project_name: ..., user_domain_name: Default, project_domain_name: Default}"
)

# What `auth` must hold per auth_type: each tuple is "one of these keys". Types not listed here
# but known to keystoneauth are left to keystoneauth (its errors are translated in cloud.py).
_PASSWORD = (("auth_url",), ("username", "user_id"), ("password",))
_TOKEN = (("auth_url",), ("token",))
AUTH_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "password": _PASSWORD,
    "v2password": _PASSWORD,
    "v3password": _PASSWORD,
    "token": _TOKEN,
    "v2token": _TOKEN,
    "v3token": _TOKEN,
    "v3applicationcredential": (
        ("auth_url",),
        ("application_credential_id", "application_credential_name"),
        ("application_credential_secret",),
    ),
}
# A secret that is missing is best kept out of clouds.yaml: say where else it can go.
SECRET_KEYS = {"password", "application_credential_secret", "token"}
# Values in the raw text that look like secrets: registered even when the YAML does not parse,
# because parser messages may quote the line they fail on.
_RAW_SECRET = re.compile(
    r"""(?:password|secret|token)["']?[ \t]*:[ \t]*["']?(?P<value>[^\s"'#,}]+)""", re.IGNORECASE
)


@dataclass(frozen=True)
class CloudsFile:
    """The clouds.yaml in use (secure.yaml merged in) and what it declares."""

    path: Path | None
    secure_path: Path | None = None
    clouds: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return os.fspath(self.path) if self.path else f"clouds.yaml (searched: {SEARCHED})"

    def config_files(self) -> list[str]:
        """Exactly the files to hand to openstacksdk, so it reads what was checked here."""
        return [os.fspath(self.path)] if self.path else []

    def secure_files(self) -> list[str]:
        return [os.fspath(self.secure_path)] if self.secure_path else []


def search_lists() -> tuple[list[str], list[str]]:
    """openstacksdk's own search lists of clouds.* and secure.* files, in its order."""
    from openstack.config import loader

    configs, secures = list(loader.CONFIG_FILES), list(loader.SECURE_FILES)
    return _unique(configs), _unique(secures)


def load_clouds() -> CloudsFile:
    """Find, read and structurally check clouds.yaml (and secure.yaml); register secrets."""
    configs, secures = search_lists()
    path = _explicit_or_first(CONFIG_VARIABLE, configs, "the clouds.yaml")
    secure_path = _explicit_or_first(SECURE_VARIABLE, secures, "the secure.yaml")
    clouds = _read_clouds(path) if path else {}
    if secure_path:
        clouds = _merge(clouds, _read_clouds(secure_path))
    return CloudsFile(path, secure_path, clouds)


def cloud_entry(clouds: CloudsFile, name: str) -> dict[str, Any]:
    """The entry `name`, checked: auth section, auth_type, what that type needs, auth_url."""
    if name not in clouds.clouds:
        if os.environ.get("OS_AUTH_URL") and name == os.environ.get("OS_CLOUD_NAME", "envvars"):
            # openstacksdk builds this entry from the OS_* variables
            remember_secrets_in({k[3:].lower(): v for k, v in os.environ.items() if k[:3] == "OS_"})
            return {}
        known = ", ".join(sorted(map(str, clouds.clouds))) or "none"
        found = f"{clouds.path}; entries: {known}" if clouds.path else f"searched: {SEARCHED}"
        raise InputError(
            f"cloud {name!r} is not in clouds.yaml ({found})",
            hint=f"add an entry named {name!r} under clouds:, point {CONFIG_VARIABLE} at the "
            "file that has it, or set cloud_provider in the environment to one of the entries",
        )
    entry = clouds.clouds[name]
    where = f"{clouds.where}: cloud {name!r}"
    if not isinstance(entry, dict):
        raise InputError(
            f"{where} is a {_kind(entry)}, not a mapping",
            hint=f"write the entry as a mapping, e.g. {name}: {{{ENTRY_EXAMPLE}}}",
        )
    entry = _normalised(entry)
    auth = entry.get("auth", {})
    if not isinstance(auth, dict):
        raise InputError(
            f"{where}: 'auth' is a {_kind(auth)}, not a mapping", hint=f"write {ENTRY_EXAMPLE}"
        )
    # openstacksdk also takes auth options from the entry's top level
    view = {**{k: v for k, v in entry.items() if k != "auth"}, **_normalised(auth)}
    auth_type = str(entry.get("auth_type") or "password")
    _check_auth_type(where, auth_type)
    if "auth" not in entry and not any(k in view for k in ("auth_url", "username", "token")):
        raise InputError(
            f"{where} has no 'auth' section",
            hint=f"add the credentials to the entry: {ENTRY_EXAMPLE} "
            "(or an application credential with auth_type: v3applicationcredential)",
        )
    for choices in AUTH_NEEDS.get(auth_type, ()):
        if choices == ("auth_url",) and ("profile" in entry or "cloud" in entry):
            continue  # a vendor profile supplies the auth_url
        if not any(view.get(key) not in (None, "") for key in choices):
            raise InputError(
                f"{where}: auth_type {auth_type!r} needs auth.{' or auth.'.join(choices)}",
                hint=_missing_hint(choices, clouds),
            )
    if view.get("auth_url") is not None:
        check_auth_url(where, view["auth_url"])
    if "api_timeout" in entry:
        api_timeout(where, entry["api_timeout"])
    return entry


def check_auth_url(where: str, value: Any) -> str:
    """An absolute http(s) URL with a host and a valid port (redacted in every message)."""
    text = str(value).strip()
    shown = redact(text)
    problem = None
    password = next((m["password"] for m in URL_PASSWORD.finditer(text)), "")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as error:
        # urlsplit's message quotes the "port", which may be a piece of the password
        problem = "its port is not a number" if "port" in str(error).lower() else "unparsable"
    if any(c in password for c in "/?#"):
        problem = (
            "the password in it contains '/', '?' or '#', which end the host part; "
            "percent-encode them, or better put the password in auth: password:"
        )
    elif problem is None:
        if not parts.scheme or "://" not in text:  # "host:5000/v3" parses as scheme "host"
            problem = "it has no scheme (http:// or https://)"
        elif parts.scheme not in ("http", "https"):
            problem = f"scheme {parts.scheme!r} is not http or https"
        elif not parts.hostname:
            problem = "it has no host name"
    if problem or not isinstance(value, str):
        raise InputError(
            f"{where}: auth_url {shown!r} is not a valid URL: {problem or 'not a string'}",
            hint="write the identity endpoint in full, e.g. https://keystone.example.com:5000/v3",
        )
    return text


def api_timeout(where: str, value: Any) -> float:
    """A positive number of seconds (api_timeout in clouds.yaml)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 < seconds < 24 * 3600:
        raise InputError(
            f"{where}: api_timeout {value!r} is not a positive number of seconds",
            hint="write e.g. api_timeout: 60, or remove it (default: 60 s)",
        )
    return seconds


def _explicit_or_first(variable: str, search: list[str], what: str) -> Path | None:
    explicit = os.environ.get(variable)
    found = explicit or next((name for name in search if os.path.exists(name)), None)
    if not found:
        return None
    path = Path(found).expanduser()
    if not path.is_file():  # a FIFO or device would block the read
        state = "does not exist" if not path.exists() else "is not a regular file"
        named = f"{variable} points to {found}" if explicit else f"{found} is used, but it"
        raise InputError(
            f"{named}, which {state}" if explicit else f"{named} {state}",
            hint=f"point {variable} at {what} file, or unset it to use the usual "
            f"places ({SEARCHED})",
        )
    return path


def _read_clouds(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise InputError(
            f"cannot read {path}: {reason}",
            hint="make it a readable UTF-8 file (chmod 600 is enough for its owner)",
        ) from None
    for match in _RAW_SECRET.finditer(text):
        remember_secret(match["value"])
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        tips = " (indent with spaces, 'key: value', quote values with ':' or '#')"
        raise InputError(
            f"{path} is not valid {kind}: {_parse_problem(error)}",
            hint="fix the syntax there" + (tips if kind == "YAML" else ""),
        ) from None
    _refuse_expansion(path, data)
    remember_secrets_in(data)
    if data is None:
        raise InputError(
            f"{path} is empty",
            hint=f"add a clouds: mapping: clouds: {{NAME: {{{ENTRY_EXAMPLE}}}}}",
        )
    if not isinstance(data, dict) or "clouds" not in data:
        raise InputError(
            f"{path} has no clouds: section",
            hint="the file must be a mapping whose key clouds: holds one entry per cloud",
        )
    clouds = data["clouds"]
    if not isinstance(clouds, dict):
        raise InputError(
            f"{path}: clouds: is a {_kind(clouds)}, not a mapping of named entries",
            hint=f"write clouds: {{NAME: {{{ENTRY_EXAMPLE}}}}} (one entry per cloud, by name)",
        )
    return {str(k): v for k, v in clouds.items()}


def _parse_problem(error: Exception) -> str:
    """Where and what, without the offending line itself (it may hold a secret)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "msg", None) or "syntax error"
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    line = getattr(error, "lineno", None)
    return redact(f"{problem} at line {line}" if line else str(problem))


MAX_EXPANDED_NODES = 10_000  # a clouds.yaml with anchors/aliases expanded; real ones: < 500


def _refuse_expansion(path: Path, data: Any) -> None:
    """Refuse a YAML alias bomb or a self-referencing structure (exit 2) before anything walks it.

    PyYAML builds aliases as shared references, so loading is cheap; but openstacksdk copies
    and merges the entries, expanding every alias: 9 levels of 9 aliases are 9^9 nodes.
    The expanded size is counted once per distinct node (memoised), cycles are caught.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def problem(message: str) -> InputError:
        return InputError(
            f"{path}: {message}",
            hint="write the entries out without YAML anchors and aliases (&name / *name)",
        )

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise problem("refers to itself through a YAML alias")
        active.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                raise problem(
                    f"expands to more than {MAX_EXPANDED_NODES} values through YAML aliases "
                    "(an alias bomb?)"
                )
        active.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError:
        raise problem("is nested too deeply") from None


def _check_auth_type(where: str, auth_type: str) -> None:
    if auth_type in AUTH_NEEDS:
        return
    from keystoneauth1 import loading

    known = set(loading.get_available_plugin_names())
    if auth_type not in known:
        close = difflib.get_close_matches(auth_type, sorted(known | set(AUTH_NEEDS)), n=1)
        common = ", ".join(sorted(AUTH_NEEDS))
        raise InputError(
            f"{where}: unknown auth_type {auth_type!r}"
            + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint=f"use one of {common} (or another keystoneauth plugin: "
            f"{', '.join(sorted(known - set(AUTH_NEEDS)))})",
        )


def _missing_hint(choices: tuple[str, ...], clouds: CloudsFile) -> str:
    key = choices[0]
    if key in SECRET_KEYS:
        secure = clouds.secure_path or "secure.yaml beside it"
        return f"add auth.{key} to the entry (or keep it in {secure} under the same entry name)"
    if key == "auth_url":
        return "add auth.auth_url, the identity endpoint, e.g. https://keystone.example.com:5000/v3"
    return f"add auth.{key} to the entry"


def _normalised(mapping: dict[Any, Any]) -> dict[str, Any]:
    """Keys as openstacksdk reads them: `auth-url` is `auth_url`, `auth_plugin` is `auth_type`."""
    out = {str(k).replace("-", "_"): v for k, v in mapping.items()}
    if "auth_plugin" in out and "auth_type" not in out:
        out["auth_type"] = out.pop("auth_plugin")
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _kind(value: Any) -> str:
    return {list: "list", str: "string", type(None): "empty value"}.get(
        type(value), type(value).__name__
    )


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
