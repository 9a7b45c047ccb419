"""The Terraform runner with a stand-in binary: event parsing, transient retries, failures."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from scs_testbed.deployment import _apply_with_retries
from scs_testbed.terraform import TerraformRunner, parse_events, transient_reason
from scs_testbed.testbed import SilentReporter, terraform_failure

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("text", "transient"),
    [
        ("got 504 instead: Gateway Timeout", True),
        ("Expected HTTP response code [202], but got 503", True),
        ("Can not get vracks for tenant 1234 from DB!", True),
        ("Quota exceeded for instances: Requested 4, but already used 10", True),
        ("429 Too Many Requests", True),
        ("dial tcp 127.0.0.1:18774: connect: connection refused", True),
        ("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer", True),
        ("Expected HTTP response code [201 202], but got 409 instead", True),
        ("Expected HTTP response code [200], but got 500 instead", True),
        ("Invalid flavorRef provided", False),
        ("Error: No image found with name 'Ubuntu'", False),
    ],
)
def test_transient_error_table(text: str, transient: bool) -> None:
    assert (transient_reason(text) is not None) == transient


def fake_terraform(tmp_path: Path, failures: int, golden: Path) -> Path:
    """A `terraform` that fails `apply` with the golden stream `failures` times, then succeeds."""
    script = tmp_path / "terraform"
    counter = tmp_path / "applies"
    counter.write_text("0")
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'case "$1" in\n'
        '  plan) echo \'{"type":"version"}\'; echo \'{"type":"change_summary",'
        '"@message":"Plan: 1 to add","changes":{"add":1,"operation":"plan"}}\'; exit 0;;\n'
        f"  apply) n=$(cat {counter}); echo $((n+1)) > {counter};\n"
        f'    if [ "$n" -lt {failures} ]; then cat {golden}; exit 1; fi;\n'
        '    echo \'{"type":"apply_complete","hook":{"resource":{"addr":"x"},"action":"create"}}\';'
        " exit 0;;\n"
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_golden_stream_parses_into_errors_with_addresses() -> None:
    events = parse_events((GOLDEN / "apply_gateway_timeout.jsonl").read_text())
    assert [e["type"] for e in events] == [
        "version",
        "apply_start",
        "apply_complete",
        "apply_errored",
        "diagnostic",
    ]


def test_transient_failure_is_retried_then_succeeds(tmp_path: Path) -> None:
    binary = fake_terraform(tmp_path, failures=2, golden=GOLDEN / "apply_gateway_timeout.jsonl")
    runner = TerraformRunner(str(binary), tmp_path, tmp_path / "logs")
    retries: list[tuple[int, str]] = []

    class Recorder(SilentReporter):
        def retry(self, attempt: int, reason: str, delay: float) -> None:
            retries.append((attempt, reason))

    result = _apply_with_retries(runner, Recorder(), (0.0, 0.0, 0.0), None)
    assert result.ok and result.completed == 1
    assert [a for a, _ in retries] == [1, 2]
    assert retries[0][1] == "504 from compute"  # what failed, where: the retry line's words
    assert (tmp_path / "applies").read_text().strip() == "3"
    logs = list((tmp_path / "logs").glob("*-apply.jsonl"))
    assert logs, "every run's -json stream is logged"


def test_retries_are_bounded_and_the_error_names_the_resource(tmp_path: Path) -> None:
    binary = fake_terraform(tmp_path, failures=9, golden=GOLDEN / "apply_gateway_timeout.jsonl")
    runner = TerraformRunner(str(binary), tmp_path)
    result = _apply_with_retries(runner, SilentReporter(), (0.0, 0.0), None)
    assert not result.ok
    assert (tmp_path / "applies").read_text().strip() == "3"  # 1 + 2 retries
    error = terraform_failure(result.command, result)
    assert error.exit_code == 4
    assert error.details[0].startswith('openstack_compute_volume_attach_v2.data["0-0"]: ')
    assert "Gateway Timeout" in error.details[0]


def test_a_permanent_error_is_not_retried(tmp_path: Path) -> None:
    golden = tmp_path / "permanent.jsonl"
    golden.write_text(
        json.dumps(
            {
                "type": "diagnostic",
                "diagnostic": {
                    "severity": "error",
                    "summary": "Invalid flavorRef provided",
                    "detail": "",
                },
            }
        )
        + "\n"
    )
    binary = fake_terraform(tmp_path, failures=5, golden=golden)
    result = _apply_with_retries(
        TerraformRunner(str(binary), tmp_path), SilentReporter(), (0.0, 0.0), None
    )
    assert not result.ok
    assert (tmp_path / "applies").read_text().strip() == "1"


@pytest.mark.parametrize(
    ("text", "address", "short"),
    [
        (
            "Expected HTTP response code [202] when accessing [POST http://h:18774/v2.1/servers], "
            "but got 503 instead",
            "openstack_compute_instance_v2.manager",
            "503 from compute",
        ),
        (
            'Error creating OpenStack networking client: Post "http://h/v3/auth/tokens": '
            "dial tcp h: connect: connection refused",
            "",
            "connection refused from network",
        ),
        (
            "read: connection reset by peer",
            "openstack_blockstorage_volume_v3.data",
            "connection reset from block storage",
        ),
        ("but got 409 instead", "openstack_networking_port_v2.node", "409 from network"),
    ],
)
def test_the_retry_line_says_what_failed_where(text: str, address: str, short: str) -> None:
    from scs_testbed.transient import short_reason

    assert short_reason(text, address) == short


def test_a_retry_after_in_the_error_lengthens_the_wait() -> None:
    from scs_testbed.transient import next_delay

    assert next_delay(5.0, "got 503 instead: Retry-After: 30") == 30.0
    assert next_delay(5.0, "got 503 instead") == 5.0
    assert next_delay(5.0, "Retry-After: 9999") == 300.0  # bounded
