"""Tier markers by directory, auto-skip with a reason, and one summary line per tier."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests import tiers

_reasons: dict[str, str | None] = {}
_outcomes: dict[str, Counter[str]] = {t: Counter() for t in tiers.TIERS}
_by_cli: dict[str, Counter[str]] = {"opentofu": Counter(), "terraform": Counter()}
_seconds: Counter[str] = Counter()  # per tier: setup + call + teardown of its tests


def _tier_of(item: pytest.Item) -> str:
    for tier in tiers.TIERS:
        if item.get_closest_marker(tier):
            return tier
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        rel = Path(str(item.fspath)).relative_to(here).parts
        if rel and rel[0] in tiers.TIERS and not item.get_closest_marker(rel[0]):
            item.add_marker(getattr(pytest.mark, rel[0]))


def _missing(tier: str) -> str | None:
    if tier not in _reasons:
        _reasons[tier] = tiers.CHECKS[tier]()
    return _reasons[tier]


def pytest_runtest_setup(item: pytest.Item) -> None:
    tier = _tier_of(item)
    reason = _missing(tier)
    if reason is None:
        return
    if tier in tiers.required_tiers():
        pytest.fail(f"{tier} tier is required here but cannot run: {reason}", pytrace=False)
    pytest.skip(f"{tier} tier: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = next((t for t in tiers.TIERS if t in report.keywords), "unit")
    _seconds[tier] += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _outcomes[tier][report.outcome] += 1
        # terraform-tier tests are parametrized by CLI (tests/terraform/conftest.py: cli_kind)
        kind = next((k for k in _by_cli if f"[{k}" in report.nodeid), None)
        if tier == "terraform" and kind:
            _by_cli[kind][report.outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.section("tiers")
    for tier in tiers.TIERS:
        counts = _outcomes[tier]
        reason = _reasons.get(tier)
        if tier not in _reasons:
            missing = tiers.CHECKS[tier]()
            line = "SKIPPED  no tests of this tier were selected" + (
                f" (and it could not run: {missing})" if missing else ""
            )
        elif counts["passed"] or counts["failed"]:
            line = f"RAN      passed={counts['passed']} failed={counts['failed']}"
            if counts["skipped"]:
                line += f" skipped={counts['skipped']}"
        else:
            line = f"SKIPPED  {reason or 'all tests skipped'}"
        if tier == "terraform" and any(_by_cli.values()):
            line += " (" + ", ".join(_cli_summary(kind) for kind in _by_cli) + ")"
        if _seconds[tier]:
            line += f" in {_seconds[tier]:.0f} s"
        terminalreporter.write_line(f"tier {tier:<10} {line}")


def _cli_summary(kind: str) -> str:
    counts = _by_cli[kind]
    if not counts["passed"] and not counts["failed"]:
        return f"{kind}: SKIPPED {tiers.missing_cli(kind) or 'no test ran under it'}"
    text = f"{kind}: passed={counts['passed']} failed={counts['failed']}"
    return text + (f" skipped={counts['skipped']}" if counts["skipped"] else "")
