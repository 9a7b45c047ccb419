"""The root filesystem the local cloud's servers boot from: Debian 12 built with debootstrap.

Built once from Debian's packages, fixed up for use as a cloud image (no host keys, no
machine-id, a locale, cloud-init reading the config drive) and cached as a directory under
the state dir, keyed by everything that goes into it: a changed package list builds a new
image next to the old one. Every server boots from an overlay over this directory.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from scs_testbed import runner, ui
from scs_testbed.errors import TestbedError
from scs_testbed.localcloud.layout import Layout

SUITE = "bookworm"
MIRROR_ENV = "SCS_TESTBED_DEBIAN_MIRROR"
# What a cloud image has (systemd, cloud-init, sshd) plus what bootstrap/ runs: git, curl, jq,
# python3-venv/pip (the manager's venv), sudo, ssh-keygen (openssh-client), gzip/base64 for
# cloud-init's gz+b64 write_files (gzip, coreutils are in every Debian base).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "cloud-init",
    "openssh-server",
    "openssh-client",
    "python3",
    "python3-venv",
    "python3-pip",
    "sudo",
    # the nodes' cloud-config asks for chrony (ntp_client); offline it cannot be installed
    "chrony",
    "iproute2",
    "ifupdown",
    "isc-dhcp-client",
    "locales",
    "ca-certificates",
    "curl",
    "jq",
    "git",
    "gzip",
    "less",
    "procps",
    "net-tools",
)
LOCALE = "en_US.UTF-8"
# Only the config drive exists here: probing other data sources waits for network timeouts.
CLOUD_CFG = "datasource_list: [ConfigDrive, None]\n"
CLOUD_CFG_PATH = "etc/cloud/cloud.cfg.d/90-scs-localcloud.cfg"
# Bump when the fix-ups below change, so cached images are rebuilt.
FIXUP_VERSION = 3
# cloud-init configures the NIC with ifupdown; networkd-wait-online would hold boot for 2 min
# waiting for links networkd does not manage.
# chrony-wait waits (180 s) for a clock chronyd never sets in a container (it has no
# CAP_SYS_TIME there; the host keeps the time), holding cloud-final and the host keys back.
MASKED_UNITS = (
    "systemd-networkd.service",
    "systemd-networkd-wait-online.service",
    "chrony-wait.service",
)
MANIFEST = "scs-image.json"


class ImageError(TestbedError):
    """Building the local cloud's root filesystem failed."""


@dataclass(frozen=True)
class Image:
    """A built root filesystem and how long getting it took."""

    rootfs: Path
    key: str
    built: bool
    seconds: float


def image_key(packages: tuple[str, ...] = PACKAGES, suite: str = SUITE) -> str:
    """Short digest of everything that makes up the image."""
    text = json.dumps({"suite": suite, "packages": sorted(packages), "fixup": FIXUP_VERSION})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_dir(layout: Layout, key: str | None = None) -> Path:
    return layout.images / f"debian-{SUITE}-{key or image_key()}"


def cached_rootfs(layout: Layout) -> Path | None:
    """The root filesystem of the current package list, if it has been built."""
    root = image_dir(layout) / "rootfs"
    return root if (root / MANIFEST).is_file() else None


def manifest(rootfs: Path) -> dict[str, object]:
    """What the image was built from, and how long the build took."""
    data: dict[str, object] = json.loads((rootfs / MANIFEST).read_text())
    return data


def host_mirror(sources: Path = Path("/etc/apt")) -> str | None:
    """The Debian mirror this machine's own apt uses (deb822 or one-line sources)."""
    files = [*sorted(sources.glob("sources.list.d/*.sources")), sources / "sources.list"]
    files += sorted(sources.glob("sources.list.d/*.list"))
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.MULTILINE))
                suites = fields.get("Suites", "").split()
                if SUITE in suites and "deb" in fields.get("Types", "").split():
                    return fields.get("URIs", "").split()[0] or None
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb" and SUITE in parts[2:]:
                    return next(p for p in parts[1:] if not p.startswith("["))
    return None


def debian_mirror() -> str:
    """$SCS_TESTBED_DEBIAN_MIRROR, else the mirror of the host's apt sources."""
    import os

    mirror = os.environ.get(MIRROR_ENV) or host_mirror()
    if not mirror:
        raise ImageError(
            f"no Debian {SUITE} mirror found in /etc/apt",
            hint=f"set {MIRROR_ENV} to a Debian mirror URL (or a local apt mirror)",
        )
    return mirror


def ensure_image(layout: Layout, *, rebuild: bool = False) -> Image:
    """The cached root filesystem, built first when missing (or when `rebuild`)."""
    started = time.perf_counter()
    key = image_key()
    final = image_dir(layout, key)
    if not rebuild and (final / "rootfs" / MANIFEST).is_file():
        return Image(final / "rootfs", key, False, time.perf_counter() - started)
    _require_tools()
    layout.images.mkdir(parents=True, exist_ok=True)
    build = layout.images / f".build-{key}"
    shutil.rmtree(build, ignore_errors=True)  # a build that was interrupted
    rootfs = build / "rootfs"
    ui.info(f"building the server image (debootstrap {SUITE}, a few minutes) in {final}")
    mirror = debian_mirror()
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE]
    bootstrapped = runner.run([*argv, str(rootfs), mirror])
    # debootstrap cannot resolve virtual packages (cloud-init needs python3-cffi-backend-api-*)
    # and exits 1 with them unconfigured; apt-get -f install in _fix_up finishes the job.
    if not bootstrapped.ok and not (rootfs / "usr/bin/apt-get").exists():
        _check(bootstrapped, "debootstrap failed")
    _fix_up(rootfs, mirror)
    manifest = {
        "suite": SUITE,
        "packages": list(PACKAGES),
        "fixup": FIXUP_VERSION,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (rootfs / MANIFEST).write_text(json.dumps(manifest) + "\n")
    # Servers booted from an older build keep their lower directory until they are deleted.
    old = layout.images / f".old-{key}"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    build.rename(final)
    prune_images(layout, keep=final)
    return Image(final / "rootfs", key, True, time.perf_counter() - started)


def prune_images(layout: Layout, keep: Path) -> list[Path]:
    """Remove the images of other package lists (~400 MB each) that no server's overlay uses."""
    mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
    removed = []
    for path in sorted(layout.images.iterdir()):
        if path == keep or not path.is_dir() or f"{path}/" in mounts:
            continue
        if path.name.startswith(("debian-", ".old-")):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _fix_up(rootfs: Path, mirror: str) -> None:
    """Make the debootstrapped tree a cloud image (see reference/boot/NOTES.md)."""
    env = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    _check(
        runner.run(["chroot", str(rootfs), "apt-get", "-f", "install", "-y", "-q"], env=env),
        "apt-get -f install in the image failed",
    )
    _check(
        runner.run(["chroot", str(rootfs), "dpkg", "--configure", "-a"], env=env),
        "dpkg --configure -a in the image failed",
    )
    (rootfs / "etc/locale.gen").write_text(f"{LOCALE} UTF-8\n")
    _check(runner.run(["chroot", str(rootfs), "locale-gen"], env=env), "locale-gen failed")
    (rootfs / "etc/default/locale").write_text(f"LANG={LOCALE}\n")
    cloud_cfg = rootfs / CLOUD_CFG_PATH
    cloud_cfg.parent.mkdir(parents=True, exist_ok=True)
    cloud_cfg.write_text(CLOUD_CFG)
    for unit in MASKED_UNITS:
        mask = rootfs / "etc/systemd/system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    (rootfs / "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\n")
    # Every server must create its own host keys and machine identity on first boot.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for path in ("etc/machine-id", "var/lib/dbus/machine-id"):
        (rootfs / path).unlink(missing_ok=True)
    _check(runner.run(["chroot", str(rootfs), "apt-get", "clean"], env=env), "apt-get clean")
    for lists in (rootfs / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()


def _require_tools() -> None:
    missing = [tool for tool in ("debootstrap", "chroot") if not shutil.which(tool)]
    if missing:
        raise ImageError(
            f"{', '.join(missing)} not installed",
            hint="apt-get install debootstrap systemd-container",
        )


def _check(result: runner.Completed, message: str) -> None:
    if result.ok:
        return
    raise ImageError(f"{message} (exit {result.returncode})", details=result.failure_details(15))
