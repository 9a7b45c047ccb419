"""URL secrets are masked wherever a URL appears; registering secrets costs bounded time."""

from __future__ import annotations

import time

import pytest

from scs_testbed import redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("auth_url: http://alice:Zq9Leak/Pass@host/v3", "auth_url: http://alice:***@host/v3"),
        ("https://u:p@ss:w@h:5000/v3/x@y", "https://u:***@h:5000/v3/x@y"),
        ("http://h:5000/v3?token=abcd1234&x=1", "http://h:5000/v3?token=***&x=1"),
        ("http://h/?X-Amz-Signature=deadbeef#f", "http://h/?X-Amz-Signature=***#f"),
        ("http://host:5000/v3 mail a@b", "http://host:5000/v3 mail a@b"),
    ],
)
def test_url_secrets_are_masked(text: str, shown: str) -> None:
    assert redact.redact(text) == shown


def test_url_secrets_in_a_config_are_registered() -> None:
    redact.remember_secrets_in(
        {"auth": {"auth_url": "http://alice:Zq9/Rv4Leak@host/v3?password=Qw8Query"}}
    )
    assert redact.redact("decoded: Zq9/Rv4Leak and Qw8Query") == "decoded: *** and ***"


def test_remembering_secrets_of_an_alias_bomb_or_a_cycle_is_bounded() -> None:
    level: list[object] = [1]
    for _ in range(12):  # 9**12 values when expanded
        level = [level] * 9
    cycle: list[object] = []
    cycle.append(cycle)
    started = time.monotonic()
    redact.remember_secrets_in({"bomb": level, "cycle": cycle})
    assert time.monotonic() - started < 2
