"""Reading environment files: a `.tfvars` file checked before it is parsed (size, kind,
encoding), parsed with python-hcl2, every value a literal (no references, no interpolation),
and the line of every key, so that each problem can name file:line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

from scs_testbed import parse_cache
from scs_testbed.errors import InputError
from scs_testbed.module_variables import convert


def display_path(path: Path) -> str:
    """A path as the user should read it: relative to the current directory when inside it."""
    try:
        return os.fspath(path.absolute().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):  # outside the cwd, or the cwd is gone
        return os.fspath(path)


_KEY_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=")


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
    references are refused, as Terraform refuses them in variables files. Values of a text
    parsed before come from `parse_cache`.
    """
    text = read_environment_file(path)
    lines = key_lines(text)
    cached = parse_cache.load("tfvars", text)
    if isinstance(cached, dict):
        return cached, lines
    where = display_path(path)
    tree = _parse_hcl(text, where)
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
    parse_cache.store("tfvars", text, values)
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


def value_of(text: str) -> Any:
    """The value of one HCL expression given as text (`-o key=VALUE`); NotLiteralError when it
    does not parse or is no literal value."""
    from hcl2.api import parses_to_tree
    from lark.exceptions import LarkError

    try:
        tree = parses_to_tree(f"v = {text}\n")
        return literal_value(_children(_children(_children(tree)[0])[0])[-1])
    except (LarkError, IndexError) as error:
        raise NotLiteralError(str(error)) from None


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
