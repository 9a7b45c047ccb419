"""Environments: module defaults ◄ environments/<name>.tfvars ◄ `-o key=value`.

An environment is a Terraform variables file for one cloud. The module's own `variables.tf`
says which keys exist, their types and defaults; this module reads both with python-hcl2 and
keeps, for every merged value, where it came from (module default, file:line, or -o).
"""

from __future__ import annotations

import difflib
import errno
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError
from scs_testbed.reference_conventions import HANDLED, Reading, read_conventions
from scs_testbed.resources import builtin_env_dir, module_dir

ENV_DIR_VARIABLE = "SCS_TESTBED_ENV_DIR"
SUFFIX = ".tfvars"
_NO_DEFAULT = object()
_KEY_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=")


def display_path(path: Path) -> str:
    """A path as the user should read it: relative to the current directory when inside it."""
    try:
        return os.fspath(path.absolute().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):  # outside the cwd, or the cwd is gone
        return os.fspath(path)


@dataclass(frozen=True)
class ModuleVariable:
    """One `variable` block of the testbed module."""

    name: str
    type: str
    description: str
    default: Any = _NO_DEFAULT
    line: int = 0

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


DERIVED = ("reference", "name")  # sources of values the reference's conventions give


@dataclass(frozen=True)
class Source:
    """Where a merged value came from."""

    kind: str  # "default" | "file" | "override" | "reference" | "name" (reference_conventions)
    where: str

    def __str__(self) -> str:
        return self.where


@dataclass
class Environment:
    """A merged environment: every declared variable that has a value, with its source."""

    name: str
    path: Path
    builtin: bool
    values: dict[str, Any]
    sources: dict[str, Source]
    file_values: dict[str, Any] = field(default_factory=dict)
    file_lines: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    reference: Reading = field(default_factory=Reading)  # the reference's conventions

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def location(self) -> str:
        return display_path(self.path)

    def where(self, key: str) -> str:
        """`file:line` of a key set in the environment file, else its source."""
        if key in self.overrides:
            return f"-o {key}"
        if key in self.sources and self.sources[key].kind in DERIVED:
            return str(self.sources[key])
        if key in self.file_lines:
            return f"{self.location}:{self.file_lines[key]}"
        return str(self.sources.get(key, Source("default", "module default")))

    def judge_values(self) -> dict[str, tuple[Any, str]]:
        """Values Terraform must see besides the file's own: derived ones and -o."""
        return {
            key: (self.values[key], self.where(key))
            for key, source in self.sources.items()
            if source.kind in (*DERIVED, "override")
        }

    def header(self) -> list[str]:
        """The comment lines at the top of the file (provider notes)."""
        lines = []
        for line in read_environment_file(self.path).splitlines():
            stripped = line.strip()
            if not stripped.startswith("#"):
                break
            lines.append(stripped.lstrip("#").strip())
        return lines


# --------------------------------------------------------------------------- module variables


def _strip_interpolation(text: str) -> str:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1].strip()
    return text


@cache
def module_variables(directory: Path | None = None) -> dict[str, ModuleVariable]:
    """The variables declared by the testbed module, in file order."""
    import hcl2
    from hcl2.utils import SerializationOptions

    path = (directory or module_dir()) / "variables.tf"
    text = path.read_text(encoding="utf-8")
    options = SerializationOptions(strip_string_quotes=True, with_comments=False)
    parsed = hcl2.loads(text, serialization_options=options)
    lines = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r'^variable\s+"([^"]+)"', line)
        if match:
            lines[match.group(1)] = number
    variables: dict[str, ModuleVariable] = {}
    for block in parsed.get("variable", []):
        for name, body in block.items():
            variables[name] = ModuleVariable(
                name=name,
                type=_strip_interpolation(str(body.get("type", "any"))),
                description=str(body.get("description", "")),
                default=body.get("default", _NO_DEFAULT),
                line=lines.get(name, 0),
            )
    return variables


def closest(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _undeclared_message(key: str, declared: Mapping[str, ModuleVariable]) -> str:
    suggestion = closest(key, declared)
    message = f"{key} is not a variable of the testbed module"
    if suggestion:
        message += f"; did you mean {suggestion}?"
    return message


# --------------------------------------------------------------------------- value checks


def type_problem(type_expr: str, value: Any) -> str | None:
    """Why `value` cannot convert to the Terraform type, or None (Terraform's conversion rules)."""
    if value is None:
        return None
    kind = type_expr.replace(" ", "")
    if kind == "any":
        return None
    if kind == "string":
        if isinstance(value, str | int | float | bool):
            return None
        return f"a string is required, got {_describe(value)}"
    if kind == "number":
        if isinstance(value, bool):
            return "a number is required, got a bool"
        if isinstance(value, int | float | str):
            try:
                number = float(value)
            except (ValueError, OverflowError):
                return f"a number is required, got {value!r}"
            # float() reads "nan" and "inf", which Terraform and JSON have no number for
            return None if math.isfinite(number) else f"a finite number is required, got {value!r}"
        return f"a number is required, got {_describe(value)}"
    if kind == "bool":
        if isinstance(value, bool) or value in ("true", "false"):
            return None
        return f"a bool (true or false) is required, got {_describe(value)}"
    for prefix in ("list(", "set("):
        if kind.startswith(prefix) and kind.endswith(")"):
            if not isinstance(value, list):
                return f"a list is required ({type_expr}), got {_describe(value)}"
            inner = kind[len(prefix) : -1]
            for index, item in enumerate(value):
                problem = type_problem(inner, item)
                if problem:
                    return f"element {index}: {problem}"
            return None
    if kind.startswith("map(") and kind.endswith(")"):
        if not isinstance(value, dict):
            return f"a map is required ({type_expr}), got {_describe(value)}"
        inner = kind[4:-1]
        for key, item in value.items():
            problem = type_problem(inner, item)
            if problem:
                return f"key {key!r}: {problem}"
        return None
    return None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def convert(type_expr: str, value: Any) -> Any:
    """Convert a value that passed `type_problem` to the Python form of the Terraform type."""
    if value is None:
        return None
    kind = type_expr.replace(" ", "")
    if kind == "number" and isinstance(value, str):
        number = float(value)
        return int(number) if number.is_integer() else number
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "bool" and isinstance(value, str):
        return value == "true"
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    return value


# --------------------------------------------------------------------------- tfvars files


class TfvarsSyntaxError(InputError):
    """The variables file is not valid HCL."""


def key_lines(text: str) -> dict[str, int]:
    """Line of each top-level `key =` in a tfvars text (nested maps and strings skipped)."""
    lines: dict[str, int] = {}
    depth = 0
    in_heredoc: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_heredoc:
            if line.strip() == in_heredoc:
                in_heredoc = None
            continue
        if depth == 0:
            match = _KEY_LINE.match(line)
            if match and match.group(1) not in lines:
                lines[match.group(1)] = number
        heredoc = re.search(r"<<-?([A-Za-z][A-Za-z0-9._-]*)\s*$", line)
        if heredoc:
            in_heredoc = heredoc.group(1)
        depth += _bracket_balance(line)
    return lines


def _bracket_balance(line: str) -> int:
    balance = 0
    in_string = False
    escaped = False
    for index, char in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "#" or line.startswith("//", index):
            break
        elif char in "[{(":
            balance += 1
        elif char in "]})":
            balance -= 1
    return balance


MAX_FILE_BYTES = 1024 * 1024  # environment files are a few dozen lines; 1 MiB is plenty
_BOMS = {
    b"\xff\xfe": "UTF-16 (little-endian)",
    b"\xfe\xff": "UTF-16 (big-endian)",
}
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class EnvironmentFileError(InputError):
    """The file cannot be read as an environment at all (its type, size, encoding, access)."""


def read_environment_file(path: Path) -> str:
    """The text of an environment file, checked before and while reading.

    The file type is checked before opening (a FIFO or a device would block or never end),
    the size is capped, a UTF-8 byte order mark is dropped (Terraform accepts one too), and
    anything that is not UTF-8 text is refused with the place of the first bad byte.
    """
    where = display_path(path)
    hint = "environment files are UTF-8 text files of `name = value` lines"
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            reason = "is a symlink loop"
        elif error.errno == errno.ENOENT and path.is_symlink():
            reason = f"is a dangling symlink (to {os.readlink(path)})"
        else:
            reason = f"cannot be read: {error.strerror}"
        raise EnvironmentFileError(f"{where} {reason}", hint=hint) from error
    if stat.S_ISDIR(info.st_mode):
        raise EnvironmentFileError(f"{where} is a directory, not a variables file", hint=hint)
    for test, kind in _FILE_KINDS:
        if test(info.st_mode):
            raise EnvironmentFileError(f"{where} is {kind}, not a regular file", hint=hint)
    if info.st_size > MAX_FILE_BYTES:
        raise EnvironmentFileError(
            f"{where} is {info.st_size / 1024 / 1024:.1f} MiB; an environment file may hold at "
            f"most {MAX_FILE_BYTES // 1024 // 1024} MiB",
            hint="is this the right file? " + hint,
        )
    try:
        # O_NONBLOCK: should the path have become a FIFO since the check, open must not wait.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise EnvironmentFileError(f"{where} is not a regular file", hint=hint)
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise EnvironmentFileError(
            f"{where} cannot be read: {error.strerror}",
            hint="check the file's permissions" if error.errno == errno.EACCES else hint,
        ) from error
    if len(data) > MAX_FILE_BYTES:
        raise EnvironmentFileError(
            f"{where} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB", hint=hint
        )
    return decode_environment_text(data, where)


def decode_environment_text(data: bytes, where: str) -> str:
    """UTF-8 text from raw bytes (a leading BOM dropped); EnvironmentFileError otherwise."""
    hint = "save the file as UTF-8 text"
    data = data.removeprefix(b"\xef\xbb\xbf")
    for bom, encoding in _BOMS.items():
        if data.startswith(bom):
            raise EnvironmentFileError(f"{where} is {encoding} text, not UTF-8", hint=hint)
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise EnvironmentFileError(
            f"{where}:{line}: binary content (a NUL byte), not a variables file", hint=hint
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise EnvironmentFileError(
            f"{where}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x})", hint=hint
        ) from error


def parse_tfvars(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Values and key lines of a tfvars file; a syntax error names file:line.

    Values are what Terraform evaluates, not their source text: heredocs become their body,
    `$${` and `%%{` become `${` and `%{`, escapes are decoded. Interpolations, directives and
    references are refused, as Terraform refuses them in variables files.
    """
    text = read_environment_file(path)
    where = display_path(path)
    tree = _parse_hcl(text, where)
    lines = key_lines(text)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for node in _children(_children(tree)[0]):
        name = _attribute_name(node)
        line = getattr(node.meta, "line", None) or lines.get(name, "?")
        if node.data == "block":
            raise InputError(
                f"{where}:{line}: {name} is a block; environment files hold only `name = value` "
                "lines"
            )
        if name in values:
            problems.append(f"{where}:{line}: {name} is set twice (first at line {lines[name]})")
            continue
        try:
            values[name] = literal_value(_children(node)[-1])
        except NotLiteralError as error:
            problems.append(f"{where}:{line}: {name}: {error}")
            values[name] = None
    if problems:
        raise InputError(
            f"{where}: {len(problems)} value(s) Terraform would not accept in a variables file",
            details=problems,
            hint="write literal values; a literal ${ is written $${ (and %{ as %%{)",
        )
    return values, lines


def _parse_hcl(text: str, where: str) -> Any:
    from hcl2.api import parses_to_tree
    from lark.exceptions import LarkError

    try:
        return parses_to_tree(text)
    except LarkError as error:
        line = getattr(error, "line", None)
        at = f"{where}:{line}" if line else where
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TfvarsSyntaxError(
            f"{at}: malformed variables file: {first}",
            hint="environment files hold lines of `name = value` (HCL), "
            'e.g. flavor_node = "SCS-8V-32"',
        ) from error


# --------------------------------------------------------------------------- literal values


class NotLiteralError(ValueError):
    """A value that is an expression, not a literal (Terraform refuses it in a tfvars file)."""


_NO_REFERENCES = (
    "references are not allowed in environment files (Terraform: Variables not allowed); "
    "quote text as a string"
)
_NO_INTERPOLATION = (
    "`${…}` interpolation is not allowed in environment files (Terraform: Variables may not "
    "be used here); write the literal value, or `$${` for a literal ${"
)
_NO_DIRECTIVE = (
    "`%{…}` template directives are not allowed in environment files; write the literal "
    "value, or `%%{` for a literal %{"
)
_REFERENCES = ("identifier", "get_attr_expr_term")  # `ubuntu`, `var.image`
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _children(node: Any) -> list[Any]:
    """Sub-trees of a node, without comments and newlines."""
    from lark import Tree

    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _tokens(node: Any) -> list[str]:
    from lark import Token

    return [str(c) for c in node.children if isinstance(c, Token)]


def _attribute_name(node: Any) -> str:
    first = node.children[0]
    return _tokens(first)[0] if hasattr(first, "children") else str(first)


def literal_value(node: Any) -> Any:
    """The value of a literal HCL expression exactly as Terraform evaluates it."""
    kind = str(node.data)
    if kind == "expr_term":
        inner = _children(node)
        if len(inner) != 1:
            raise NotLiteralError(_NO_REFERENCES)
        return literal_value(inner[0])  # also `( value )`
    if kind == "string":
        return "".join(_string_part(part) for part in _children(node))
    if kind in ("int_lit", "float_lit"):
        return _number(_tokens(node)[0])
    if kind == "literal_value":
        return {"true": True, "false": False, "null": None}[_tokens(node)[0]]
    if kind == "tuple":
        return [literal_value(item) for item in _children(node)]
    if kind == "object":
        return dict(_object_element(elem) for elem in _children(node))
    if kind in ("heredoc_template", "heredoc_template_trim"):
        return _heredoc(_tokens(node)[0], trim=kind.endswith("_trim"))
    if kind == "unary_op":
        operator, operand = _tokens(node)[0], literal_value(_children(node)[0])
        if operator == "-" and isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand
        if operator == "!" and isinstance(operand, bool):
            return not operand
    if kind in _REFERENCES:
        raise NotLiteralError(_NO_REFERENCES)
    raise NotLiteralError("expressions are not allowed in environment files; write a literal value")


def _number(text: str) -> int | float:
    from decimal import Decimal

    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _object_element(elem: Any) -> tuple[str, Any]:
    key_node, value_node = _children(elem)
    key_term = _children(key_node)
    if not key_term:  # a keyword used as a key (`in = 1`)
        return _tokens(key_node)[0], literal_value(value_node)
    term = key_term[0]
    inner = _children(term) if str(term.data) == "expr_term" else [term]
    if len(inner) == 1 and str(inner[0].data) == "identifier":
        key = _tokens(inner[0])[0]
    else:
        value = literal_value(term)
        if isinstance(value, dict | list) or value is None:
            raise NotLiteralError("a map key must be a name or a string")
        key = convert("string", value)
    return key, literal_value(value_node)


def _string_part(part: Any) -> str:
    inner = _children(part)
    if inner:
        raise NotLiteralError(
            _NO_INTERPOLATION if inner[0].data == "interpolation" else _NO_DIRECTIVE
        )
    text = _tokens(part)[0]
    if text.startswith(("$${", "%%{")):
        return text[1:]  # the escaped form stands for the literal `${` / `%{`
    return re.sub(r"\\(U[0-9A-Fa-f]{8}|u[0-9A-Fa-f]{4}|.)", _unescape, text)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _ESCAPES:
        return _ESCAPES[code]
    if code[0] in "uU" and len(code) > 1:
        return chr(int(code[1:], 16))
    raise NotLiteralError(
        f"invalid escape sequence \\{code[0]} (Terraform: Invalid escape sequence)"
    )


def _heredoc(token: str, trim: bool) -> str:
    """The body of `<<EOT` / `<<-EOT` … `EOT` as Terraform evaluates it.

    No backslash escapes in a heredoc; `<<-` removes the smallest indentation of the lines
    that hold more than whitespace (lines of only whitespace stay as they are).
    """
    rest = token.split("\n", 1)[1].removesuffix("\n").removesuffix("\r")
    body = rest.rpartition("\n")[0] + "\n" if "\n" in rest else ""
    if trim and body:
        lines = body.split("\n")
        indents = [len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()]
        cut = min(indents, default=0)
        body = "\n".join(ln[cut:] if ln.strip() else ln for ln in lines)

    def template(match: re.Match[str]) -> str:
        found = match.group(0)
        if found in ("$${", "%%{"):
            return found[1:]
        raise NotLiteralError(_NO_INTERPOLATION if found == "${" else _NO_DIRECTIVE)

    return re.sub(r"\$\$\{|%%\{|\$\{|%\{", template, body)


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Catalog:
    """Where environments are found: the user's directory shadows the built-ins by name."""

    user_dir: Path | None
    builtin_dir: Path

    @classmethod
    def locate(cls, env_dir: Path | None = None) -> Catalog:
        """Use `--env-dir`, else $SCS_TESTBED_ENV_DIR, else ./environments if it exists."""
        builtin = builtin_env_dir()
        if env_dir is None and os.environ.get(ENV_DIR_VARIABLE):
            env_dir = Path(os.environ[ENV_DIR_VARIABLE])
            origin = ENV_DIR_VARIABLE
        else:
            origin = "--env-dir"
        if env_dir is not None:
            env_dir = env_dir.expanduser()
            if not env_dir.is_dir():
                what = "is not a directory" if os.path.lexists(env_dir) else "does not exist"
                raise InputError(
                    f"environment directory {env_dir} ({origin}) {what}",
                    hint="create it, or point --env-dir / SCS_TESTBED_ENV_DIR at the directory "
                    "holding your <name>.tfvars files",
                )
        elif Path("environments").is_dir():
            env_dir = Path("environments")
        if env_dir is not None and env_dir.resolve() == builtin.resolve():
            env_dir = None
        return cls(env_dir, builtin)

    def paths(self) -> dict[str, tuple[Path, bool]]:
        """name -> (file, is_builtin), user files shadowing built-ins."""
        found: dict[str, tuple[Path, bool]] = {}
        for path in sorted(self.builtin_dir.glob(f"*{SUFFIX}")):
            found[path.name[: -len(SUFFIX)]] = (path, True)
        if self.user_dir is not None:
            for path in sorted(self.user_dir.glob(f"*{SUFFIX}")):
                found[path.name[: -len(SUFFIX)]] = (path, False)
        return dict(sorted(found.items()))

    def names(self) -> list[str]:
        return list(self.paths())

    def resolve(self, name: str) -> tuple[Path, bool]:
        """The file of environment `name`; a path to a .tfvars file is accepted too."""
        paths = self.paths()
        if name in paths:
            return paths[name]
        as_path = Path(name).expanduser()
        if name.endswith(SUFFIX) and (as_path.exists() or as_path.is_symlink()):
            return as_path, False  # whatever it is: reading it says precisely what is wrong
        suggestion = closest(name, paths)
        message = f"unknown environment {name!r}"
        if suggestion:
            message += f"; did you mean {suggestion!r}?"
        raise InputError(
            message,
            details=[f"known environments: {', '.join(paths) or '(none)'}"],
            hint="list them with `scs-testbed envs`; add your own as <name>.tfvars in "
            "./environments or --env-dir",
        )


# --------------------------------------------------------------------------- loading


def parse_override(text: str, declared: Mapping[str, ModuleVariable]) -> tuple[str, Any]:
    """`key=value` from the command line, the value read as the variable's type."""
    from hcl2.api import parses_to_tree
    from lark.exceptions import LarkError

    if "=" not in text:
        raise InputError(f"-o {text}: expected key=value, e.g. -o number_of_nodes=4")
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in declared:
        raise InputError(f"-o {text}: {_undeclared_message(key, declared)}")
    variable = declared[key]
    value: Any
    if raw.strip() == "null":
        value = None
    elif variable.type == "string":
        value = raw
    else:
        try:
            tree = parses_to_tree(f"v = {raw}\n")
            value = literal_value(_children(_children(_children(tree)[0])[0])[-1])
        except (LarkError, IndexError, NotLiteralError):
            value = raw
    problem = type_problem(variable.type, value)
    if problem:
        raise InputError(f"-o {text}: {key}: {problem}")
    return key, convert(variable.type, value)


def load_environment(
    name: str,
    catalog: Catalog | None = None,
    overrides: Iterable[str] = (),
) -> Environment:
    """Load and merge one environment; structural problems raise InputError with file:line."""
    catalog = catalog or Catalog.locate()
    path, builtin = catalog.resolve(name)
    declared = module_variables()
    file_values, file_lines = parse_tfvars(path)
    where = display_path(path)
    env_name = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
    # The reference's header comments and variables in our terms (reference_conventions.py)
    file_text = read_environment_file(path)
    reading = read_conventions(env_name, where, file_text, file_values, file_lines)
    parsed_overrides = dict(parse_override(text, declared) for text in overrides)
    problems = list(reading.problems)
    for key, value in file_values.items():
        line = file_lines.get(key, "?")
        if key in HANDLED:
            continue
        if key not in declared:
            problems.append(f"{where}:{line}: {_undeclared_message(key, declared)}")
            continue
        problem = type_problem(declared[key].type, value)
        if problem:
            problems.append(f"{where}:{line}: {key}: {problem}")
    if problems:
        judge = {
            k: (d.value, d.where)
            for k, d in {**reading.defaults, **reading.settings}.items()
            if k in declared
        }
        judge.update((k, (v, f"-o {k}")) for k, v in parsed_overrides.items())
        raise EnvironmentProblems(
            f"environment {name!r} is not valid ({len(problems)} problem(s))",
            details=sorted(problems, key=_problem_line),
            hint=f"fix {where}; the module's variables are listed by `scs-testbed env show {name}`",
            judge_values=judge,
        )

    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for key, variable in declared.items():
        if not variable.required:
            values[key] = variable.default
            sources[key] = Source("default", "module default")
    for key, derived in reading.defaults.items():  # below the file: what it leaves unset
        values[key], sources[key] = derived.value, Source(derived.kind, derived.where)
    for key, value in file_values.items():
        if key in declared:
            values[key] = convert(declared[key].type, value)
            sources[key] = Source("file", f"{where}:{file_lines.get(key, '?')}")
    for key, derived in reading.settings.items():  # above the file: its header comments
        values[key], sources[key] = derived.value, Source(derived.kind, derived.where)
    for key, value in parsed_overrides.items():
        values[key] = value
        sources[key] = Source("override", f"-o {key}")
    return Environment(
        name=env_name,
        path=path,
        builtin=builtin,
        values=values,
        sources=sources,
        file_values=file_values,
        file_lines=file_lines,
        overrides=parsed_overrides,
        reference=reading,
    )


class EnvironmentProblems(InputError):
    """Problems in an environment file; `judge_values` are the values Terraform needs besides
    the file's own (derived ones and -o, each with where it comes from) to judge the rest."""

    def __init__(
        self,
        message: str,
        *,
        details: list[str],
        hint: str,
        judge_values: dict[str, tuple[Any, str]],
    ):
        super().__init__(message, hint=hint, details=details)
        self.judge_values = judge_values


def _problem_line(problem: str) -> int:
    match = re.match(r"[^:]*:(\d+): ", problem)
    return int(match.group(1)) if match else 0


def missing_required(env: Environment) -> list[str]:
    """Required variables without a value, as messages."""
    return [
        f"{env.location}: {name} is required but not set ({variable.description})"
        for name, variable in module_variables().items()
        if variable.required and env.values.get(name) is None
    ]
