"""One error root; each kind carries the exit code the CLI turns it into (DESIGN.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
EXIT_PREFLIGHT = 3
EXIT_TERRAFORM = 4
EXIT_REMOTE = 5
EXIT_SMOKE = 6
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM: a cancelled CI job, `kill PID`


class TestbedError(Exception):
    """Root of every expected error. `hint` says what the user can do about it."""

    exit_code = EXIT_UNEXPECTED

    def __init__(self, message: str, hint: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []


class InputError(TestbedError):
    """Bad input or configuration: unknown names, malformed files, invalid values."""

    exit_code = EXIT_INPUT


class PreflightError(TestbedError):
    """The cloud cannot hold the testbed: quota shortfall or missing resource."""

    exit_code = EXIT_PREFLIGHT


class TerraformError(TestbedError):
    """Terraform failed (init, plan, apply or destroy)."""

    exit_code = EXIT_TERRAFORM


class RemoteError(TestbedError):
    """SSH, bootstrap inside the VMs, tunnel: something on the remote side failed."""

    exit_code = EXIT_REMOTE


class SmokeError(TestbedError):
    """The smoke tests failed."""

    exit_code = EXIT_SMOKE
