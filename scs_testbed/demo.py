"""The demo (`make demo`, `scs-testbed demo`) as steps run by the one engine (`steps.Engine`).

    check → deploy → host keys → ssh manager → ssh node-1 → watch → HTTP server on node-1 →
    tunnel → HTTP through the tunnel │ then, whatever happened: tunnel stopped, destroy

Each command step is the command a user would type, run as a child of this very program
attached to the terminal (so its colours and live views show as they would for the user); a
step fails when its child ends with another code than it may, and the run's error carries the
step's exit code. The teardown sits in the engine's `finally`: a failed step, Ctrl-C or
SIGTERM still stops the tunnel and destroys the testbed. Without servers that boot (the local
cloud's fake driver) the demo is check → deploy → status │ destroy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scs_testbed import runner
from scs_testbed.errors import (
    EXIT_OK,
    EXIT_PREFLIGHT,
    EXIT_REMOTE,
    EXIT_TERRAFORM,
    RemoteError,
    TestbedError,
)
from scs_testbed.polling import poll
from scs_testbed.steps import TEARDOWN, Engine, Step

NODE_ADDRESS = "192.168.16.11"  # node-1's fixed IP on the management network
HTTP_PORT = 8089
_HTTP_SERVER = f"nohup python3 -m http.server {HTTP_PORT} --bind {NODE_ADDRESS} >/dev/null 2>&1 &"
WATCH_TIMEOUT = 900  # seconds watch may take to reach the bootstrap's first unreachable step


class DemoStepFailed(TestbedError):
    """A step's command ended badly; the exit code is the step's."""

    def __init__(self, step: str, code: int, exit_code: int):
        super().__init__(
            f"demo step {step} failed (its command exited {code})",
            hint="its output is above; the teardown ran (the tunnel stopped, the testbed "
            "destroyed if one was deployed)",
        )
        self.exit_code = exit_code


@dataclass
class Demo:
    """What the demo's steps share. `run` starts a command attached to the terminal."""

    name: str
    environment: str = "local"
    say: Callable[[str], None] = lambda title: None
    run: Callable[[list[str]], int] = runner.interactive
    fetch: Callable[[str], bytes] | None = None  # GET a URL (default: urllib through the tunnel)
    http_wait: float = 60.0
    codes: dict[str, int] = field(default_factory=dict)  # step -> its command's exit code
    http_bytes: int = 0

    def cli(self, *args: str) -> list[str]:
        """A child of this very program (the same interpreter and package)."""
        return [sys.executable, "-m", "scs_testbed", *args]

    @property
    def url(self) -> str:
        return f"http://{NODE_ADDRESS}:{HTTP_PORT}/"


def _child(
    name: str,
    title: str,
    build: Callable[[Demo], list[str]],
    exit_code: int,
    allowed: Sequence[int] = (EXIT_OK,),
    **more: Any,
) -> Step[Demo]:
    """A step that says `title` and runs the command `build` makes; another exit code than
    `allowed` fails it with the step's `exit_code`."""

    def do(demo: Demo) -> None:
        demo.say(title.format(name=demo.name))
        code = demo.run(build(demo))
        demo.codes[name] = code
        if code not in allowed:
            raise DemoStepFailed(name, code, exit_code)

    return Step(name, do, exit_code=exit_code, **more)


def _show_host_keys(demo: Demo) -> None:
    from scs_testbed.workspace import find_workspace

    known_hosts = find_workspace(demo.name).known_hosts
    demo.say(f"host keys pinned from the console logs ({known_hosts})")
    lines = [ln.split()[:2] for ln in known_hosts.read_text().splitlines() if ln.strip()]
    if not lines:
        raise RemoteError(f"{known_hosts} pins no host key", hint="the deploy should have")
    for fields in lines:
        demo.say("   " + " ".join(fields))


def _http_through_tunnel(demo: Demo) -> None:
    """node-1's HTTP server must answer through the tunnel with a body (bytes carried)."""
    demo.say(f"HTTP to node-1's server through the tunnel ({demo.url})")
    fetch = demo.fetch or _get
    failed: list[OSError] = []

    def ask() -> bytes | None:
        try:
            return fetch(demo.url)
        except OSError as error:  # the node's server may still be starting: poll it
            failed.append(error)
            return None

    body = poll(ask, demo.http_wait, pauses=(0.2,))
    if body is None:
        raise RemoteError(
            f"node-1's HTTP server not reached through the tunnel: {failed[-1]}",
            hint=f"scs-testbed ssh --name {demo.name} node-1 -- ss -ltn",
        ) from failed[-1]
    if not body:
        raise RemoteError("node-1's HTTP server answered with no bytes through the tunnel")
    demo.http_bytes = len(body)
    demo.say(f"   {len(body)} bytes from node-1 through the tunnel")


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http on purpose)
        body: bytes = response.read()
        return body


def _stop_tunnel(demo: Demo) -> None:
    demo.say(f"scs-testbed tunnel {demo.name} --stop")
    demo.run(demo.cli("tunnel", demo.name, "--stop"))  # none running is fine


_DESTROY = _child(
    "destroy",
    "scs-testbed destroy {name} --yes",
    lambda d: d.cli("destroy", d.name, "--yes"),
    EXIT_TERRAFORM,
    phase=TEARDOWN,
    destroys=True,
)
_CHECK = _child(
    "check",
    "scs-testbed check -e local --name {name}",
    lambda d: d.cli("check", "-e", d.environment, "--name", d.name),
    EXIT_PREFLIGHT,
)
_DEPLOY = _child(
    "deploy",
    "scs-testbed deploy -e local --name {name}   (host keys are pinned from the console logs)",
    lambda d: d.cli("deploy", "-e", d.environment, "--name", d.name, "--skip-check"),
    EXIT_TERRAFORM,
    creates=True,
)

BOOTING: tuple[Step[Demo], ...] = (
    _CHECK,
    _DEPLOY,
    Step("host-keys", _show_host_keys, exit_code=EXIT_REMOTE),
    _child(
        "ssh-manager",
        "scs-testbed ssh --name {name} manager -- hostname   (StrictHostKeyChecking yes)",
        lambda d: d.cli("ssh", "--name", d.name, "manager", "--", "hostname"),
        EXIT_REMOTE,
    ),
    _child(
        "ssh-node",
        "scs-testbed ssh --name {name} node-1 -- hostname   (through the manager)",
        lambda d: d.cli("ssh", "--name", d.name, "node-1", "--", "hostname"),
        EXIT_REMOTE,
    ),
    # The local cloud's servers reach no internet: the bootstrap stops at its first step that
    # needs it, and watch says which one with exit 5. Both endings pass; any other fails.
    _child(
        "watch",
        "scs-testbed watch {name} --plain   (the real bootstrap, up to where it needs the net)",
        lambda d: d.cli("watch", d.name, "--plain", "--timeout", str(WATCH_TIMEOUT)),
        EXIT_REMOTE,
        allowed=(EXIT_OK, EXIT_REMOTE),
        timeout=WATCH_TIMEOUT,
    ),
    _child(
        "http-server",
        f"an HTTP server on node-1 ({NODE_ADDRESS}:{HTTP_PORT})",
        # one word after --: as with ssh, the remote login shell parses the command line
        lambda d: d.cli("ssh", "--name", d.name, "node-1", "--", _HTTP_SERVER),
        EXIT_REMOTE,
    ),
    _child(
        "tunnel",
        "scs-testbed tunnel {name} --background",
        lambda d: d.cli("tunnel", d.name, "--background"),
        EXIT_REMOTE,
    ),
    Step("http", _http_through_tunnel, exit_code=EXIT_REMOTE),
    Step("tunnel-stop", _stop_tunnel, TEARDOWN, exit_code=EXIT_REMOTE),
    _DESTROY,
)

# Servers that never boot (the local cloud's fake driver): the Terraform side only.
TERRAFORM_ONLY: tuple[Step[Demo], ...] = (
    _CHECK,
    _DEPLOY,
    _child(
        "status", "scs-testbed status {name}", lambda d: d.cli("status", d.name), EXIT_TERRAFORM
    ),
    _DESTROY,
)


def run_demo(demo: Demo, boots: bool = True) -> dict[str, Any]:
    """Run the demo's steps; the tunnel is stopped and the testbed destroyed in `finally`.

    Returns what it saw (each step's result and command's exit code, the bytes carried
    through the tunnel); a failed step raises its error once the teardown ran."""
    outcome = Engine(BOOTING if boots else TERRAFORM_ONLY, demo, destroy="always").run()
    return {
        "steps": [r.as_dict() for r in outcome.results],
        "codes": demo.codes,
        "http_bytes": demo.http_bytes,
    }
