"""Environment files the parser does not expect, and values exactly as Terraform reads them.

Equality with real Terraform is proven in tests/terraform/test_environment_values.py; this
file pins the same table without Terraform, plus the file-level refusals.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from scs_testbed.environment import (
    Catalog,
    load_environment,
    parse_override,
)
from scs_testbed.environment_files import (
    MAX_FILE_BYTES,
    EnvironmentFileError,
    parse_tfvars,
    read_environment_file,
)
from scs_testbed.errors import InputError
from scs_testbed.module_variables import module_variables
from scs_testbed.validation import _hcl_literal, validate_environments

# (tfvars source of `v`, the value Terraform evaluates) — checked against Terraform 1.11.
EVALUATED: list[tuple[str, Any]] = [
    ("<<EOT\nhello\n  world\nEOT", "hello\n  world\n"),
    ("<<-EOT\n    indented\n      more\n    EOT", "indented\n  more\n"),
    ("<<-EOT\n    a\n  \n     b\n  EOT", "a\n  \n b\n"),
    ("<<-EOT\n\tTab\n\t  x\n\tEOT", "Tab\n  x\n"),
    ("<<EOT\n$${esc} %%{d} \\n back\nEOT", "${esc} %{d} \\n back\n"),
    ("<<EOT\nEOT", ""),
    ('"esc $${foo} and %%{bar} $ % $$ %%"', "esc ${foo} and %{bar} $ % $$ %%"),
    ('"tab\\tq\\"uote\\\\ back \\u00e9 \\U0001F600"', 'tab\tq"uote\\ back é 😀'),
    ("[-1, 1.50, 1e3, -0.5]", [-1, 1.5, 1000, -0.5]),
    ('{"a b" = 1, c = true, d = null, 1 = 2}', {"a b": 1, "c": True, "d": None, "1": 2}),
    ('("parenthesised")', "parenthesised"),
]


def tfvars(tmp_path: Path, text: str | bytes, name: str = "v") -> Path:
    path = tmp_path / f"{name}.tfvars"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(("source", "value"), EVALUATED)
def test_values_are_what_terraform_evaluates(tmp_path: Path, source: str, value: Any) -> None:
    values, _ = parse_tfvars(tfvars(tmp_path, f"v = {source}\n"))
    assert values["v"] == value


def test_crlf_heredoc_keeps_its_carriage_returns(tmp_path: Path) -> None:
    values, _ = parse_tfvars(tfvars(tmp_path, b"v = <<EOT\r\nab\r\nEOT\r\n"))
    assert values["v"] == "ab\r\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('"a ${var.x} b"', "interpolation is not allowed"),
        ("<<EOT\n${x}\nEOT", "interpolation is not allowed"),
        ('"%{ if true }x%{ endif }"', "template directives are not allowed"),
        ("var.image", "references are not allowed"),
        ("ubuntu", "references are not allowed"),
        ('upper("x")', "expressions are not allowed"),
        ('"C:\\Images"', "invalid escape sequence \\I"),
    ],
)
def test_what_terraform_refuses_in_tfvars_is_refused(
    tmp_path: Path, source: str, message: str
) -> None:
    with pytest.raises(InputError) as raised:
        parse_tfvars(tfvars(tmp_path, f"a = 1\nv = {source}\n"))
    assert ":2: v: " in raised.value.details[0] and message in raised.value.details[0]


def test_a_key_set_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        parse_tfvars(tfvars(tmp_path, 'v = "a"\nw = 1\nv = "b"\n'))
    assert "v.tfvars:3: v is set twice (first at line 1)" in raised.value.details[0]


def test_the_workspace_gets_the_evaluated_value(tmp_path: Path) -> None:
    tfvars(tmp_path, 'cloud_provider = "c"\nimage = <<-EOT\n  Ubuntu $${x}\n  EOT\n', "mine")
    env = load_environment("mine", Catalog.locate(tmp_path))
    assert env.values["image"] == "Ubuntu ${x}\n"


def test_a_bom_is_dropped(tmp_path: Path) -> None:
    path = tfvars(tmp_path, '\ufeff# header\ncloud_provider = "c"\n', "bom")
    env = load_environment("bom", Catalog.locate(tmp_path))
    assert env.values["cloud_provider"] == "c"
    assert env.header() == ["header"]
    assert read_environment_file(path).startswith("# header")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'v = "caf\xe9"\n', "v.tfvars:1: not UTF-8 text (byte 0xe9)"),
        (b'v = "x"\n\x00\x01', "v.tfvars:2: binary content"),
        ('v = "x"\n'.encode("utf-16"), "is UTF-16 (little-endian) text"),
        (b"#" * (MAX_FILE_BYTES + 1), "may hold at most 1 MiB"),
    ],
)
def test_content_that_is_not_a_variables_file(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(EnvironmentFileError, match=re.escape(message)):
        read_environment_file(tfvars(tmp_path, content))


def test_special_files_are_refused_without_opening_them(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.tfvars")  # opening it for reading would block
    (tmp_path / "dir.tfvars").mkdir()
    (tmp_path / "loop.tfvars").symlink_to(tmp_path / "loop2.tfvars")
    (tmp_path / "loop2.tfvars").symlink_to(tmp_path / "loop.tfvars")
    (tmp_path / "dangling.tfvars").symlink_to(tmp_path / "nowhere")
    expected = {
        "fifo": "is a FIFO (named pipe), not a regular file",
        "dir": "is a directory",
        "loop": "is a symlink loop",
        "dangling": "is a dangling symlink",
    }
    for name, message in expected.items():
        with pytest.raises(EnvironmentFileError, match=re.escape(message)):
            read_environment_file(tmp_path / f"{name}.tfvars")
    with pytest.raises(EnvironmentFileError, match="is a character device"):
        read_environment_file(Path("/dev/zero"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files of mode 000")
def test_an_unreadable_file_names_the_permission(tmp_path: Path) -> None:
    path = tfvars(tmp_path, 'v = "x"\n')
    path.chmod(0)
    with pytest.raises(EnvironmentFileError, match="cannot be read: Permission denied"):
        read_environment_file(path)


def test_validation_does_not_hand_a_fifo_to_terraform(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.tfvars")
    # A Terraform that would block on the FIFO: it must never be started for this file.
    results = validate_environments(["pipe"], Catalog.locate(tmp_path), terraform="/bin/false")
    assert results[0].problems == [
        f"{tmp_path / 'pipe.tfvars'} is a FIFO (named pipe), not a regular file"
    ]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("${x}", '"$${x}"'),
        ("%{ if }", '"%%{ if }"'),
        ("$${x}", '"$$${x}"'),
        ("é", '"é"'),
    ],
)
def test_overrides_handed_to_terraform_stay_literal(value: str, literal: str) -> None:
    assert _hcl_literal(value) == literal


def test_override_lists_are_evaluated_like_files() -> None:
    assert parse_override('dns_nameservers=["$${x}"]', module_variables()) == (
        "dns_nameservers",
        ["${x}"],
    )
