"""openstacksdk connections, with the failures users meet turned into clear errors.

Why over 400 lines: connecting, the bounded waits on the cloud (gather, Deadline) and turning
the client libraries' exceptions into one line each are one concern — every cloud call of the
tool passes through all three.

`connect()` is the one place a connection to the user's cloud is made. It reads and checks
clouds.yaml first (`clouds_yaml`), hands openstacksdk exactly that file, and gives every request
a connect and a read timeout, so an endpoint that accepts connections and never answers ends in
an error instead of a hang:
  - connect timeout: 10 s (or the read timeout, when that is smaller);
  - read timeout: 60 s, or `api_timeout` of the clouds.yaml entry, or
    `SCS_TESTBED_API_TIMEOUT` (seconds; wins over both, e.g. for CI).
Every wait on the cloud that a user sees (`ui.waiting`: what, where, the limit) ends within
the read timeout as a whole, however many requests it takes: authentication (keystoneauth's
version discovery, then the token request), the preflight's reads, the reads of `status`.
The requests run in daemon threads that the main thread waits for (`gather`), so Ctrl-C
ends the wait at once and an abandoned request never holds up the exit. Messages name the
endpoint with any password in its URL masked.

openstacksdk is imported lazily: `scs-testbed --help` must not pay for it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from scs_testbed.errors import InputError
from scs_testbed.redact import install_log_redaction, redact

if TYPE_CHECKING:
    from openstack.connection import Connection

    from scs_testbed.clouds_yaml import CloudsFile

TIMEOUT_VARIABLE = "SCS_TESTBED_API_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
MIN_READ_TIMEOUT = 0.1  # below this no request can succeed: a typo (1e-300), not a choice
_URL_IN_ERROR = re.compile(r"\bto (?P<url>[a-zA-Z][\w+.-]*://\S+?)(?::\s|\s|$)")


@dataclass(frozen=True)
class Timeouts:
    """Per-request limits in seconds, and where the read limit came from (for hints)."""

    connect: float
    read: float
    source: str

    def hint(self) -> str:
        return (
            f"the limit was {self.read:g} s ({self.source}); raise it with "
            f"{TIMEOUT_VARIABLE}=SECONDS or api_timeout in clouds.yaml"
        )


def request_timeouts(cloud: str, entry: dict[str, Any], where: str) -> Timeouts:
    """The timeouts for `cloud`: SCS_TESTBED_API_TIMEOUT, else its api_timeout, else defaults."""
    from scs_testbed.clouds_yaml import api_timeout

    raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if raw:
        try:
            read = float(raw)
        except ValueError:
            read = -1.0
        if not MIN_READ_TIMEOUT <= read < 24 * 3600:
            raise InputError(
                f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds between "
                f"{MIN_READ_TIMEOUT:g} and {24 * 3600}",
                hint=f"set e.g. {TIMEOUT_VARIABLE}=60, or unset it "
                f"(default: {DEFAULT_READ_TIMEOUT:g} s)",
            )
        source = TIMEOUT_VARIABLE
    elif entry.get("api_timeout") is not None:
        read = api_timeout(f"{where}: cloud {cloud!r}", entry["api_timeout"])
        source = f"api_timeout of cloud {cloud!r}"
    else:
        read, source = DEFAULT_READ_TIMEOUT, "the default"
    return Timeouts(min(DEFAULT_CONNECT_TIMEOUT, read), read, source)


T = TypeVar("T")


@dataclass(frozen=True)
class Deadline:
    """The end of one wait on the cloud: `limit` seconds after it began."""

    limit: float
    at: float

    @classmethod
    def after(cls, limit: float) -> Deadline:
        return cls(limit, time.monotonic() + limit)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


class Unanswered(Exception):
    """Cloud reads still running when their time was up; `services`: what they wait on."""

    def __init__(self, limit: float, services: Sequence[str] = ()) -> None:
        super().__init__(f"no answer within {limit:g} s")
        self.limit = limit
        self.services = list(services)


def gather(
    jobs: Mapping[str, Callable[[], T]],
    deadline: Deadline | None = None,
    workers: int | None = None,
    services: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, T]:
    """Run `jobs` concurrently (at most `workers` at once); their results by key.

    The jobs run in daemon threads and this thread only waits for them: Ctrl-C (and SIGTERM,
    which the CLI turns into it) ends the wait at once, and a job abandoned there or past the
    deadline never holds up the program's exit, as a ThreadPoolExecutor's would.
    When every job has ended, the error of the first failed job (in key order) is raised.
    When `deadline` passes first: that error if a job has failed already, else Unanswered with
    the `services` of the jobs still running.
    """
    keys = list(jobs)
    waiting_keys = list(keys)
    running: set[str] = set()
    outcomes: dict[str, tuple[bool, Any]] = {}
    changed = threading.Condition()

    def work() -> None:
        while True:
            with changed:
                if not waiting_keys:
                    return
                key = waiting_keys.pop(0)
                running.add(key)
            try:
                outcome: tuple[bool, Any] = (True, jobs[key]())
            except BaseException as error:  # handed to the waiting thread
                outcome = (False, error)
            with changed:
                running.discard(key)
                outcomes[key] = outcome
                changed.notify_all()

    for _ in range(min(workers or len(keys), len(keys))):
        threading.Thread(target=work, name="cloud-read", daemon=True).start()
    with changed:
        while len(outcomes) < len(keys):
            if deadline is not None and deadline.remaining() == 0.0:
                break
            changed.wait(None if deadline is None else deadline.remaining())
        done = dict(outcomes)
        still = [key for key in keys if key in running]
    for key in keys:
        if key in done and not done[key][0]:
            raise done[key][1]
    if len(done) < len(keys):
        assert deadline is not None
        wanted = [service for key in still for service in (services or {}).get(key, ())]
        raise Unanswered(deadline.limit, list(dict.fromkeys(wanted)))
    return {key: done[key][1] for key in keys}


def request_limit(conn: Any) -> float | None:
    """The read timeout `connect()` gave this connection's requests (None: not known)."""
    timeout = getattr(getattr(conn, "session", None), "timeout", None)
    read = timeout[1] if isinstance(timeout, tuple) else timeout
    return float(read) if isinstance(read, float | int) else None


def connect(cloud: str, quiet: bool = False) -> Connection:
    """An authenticated connection to the clouds.yaml entry `cloud`, with request timeouts;
    `quiet`: no line about the wait for the token (a helper thread beside other output)."""
    import logging

    from scs_testbed.clouds_yaml import cloud_entry, load_clouds

    install_log_redaction()
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # keystoneauth warns on stderr about version discovery; our errors say it better
        logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    clouds = load_clouds()
    entry = cloud_entry(clouds, cloud)
    limits = request_timeouts(cloud, entry, clouds.where)
    conn = _open(clouds, cloud)
    # requests takes a (connect, read) pair; keystoneauth passes the session's value through
    conn.session.timeout = (limits.connect, limits.read)  # type: ignore[assignment]
    _authenticate(conn, cloud, clouds, limits, quiet)
    return conn


def _open(clouds: CloudsFile, cloud: str) -> Connection:
    """The openstacksdk Connection (not yet authenticated), reading only the checked files."""
    import openstack.config
    from keystoneauth1 import exceptions as ks
    from openstack import connection, exceptions

    config = openstack.config.OpenStackConfig(
        config_files=clouds.config_files(), secure_files=clouds.secure_files()
    )
    try:
        region = config.get_one(cloud=cloud)
    except (ks.MissingRequiredOptions, ks.NoMatchingPlugin, ks.OptionError) as error:
        raise InputError(
            f"{clouds.where}: cloud {cloud!r}: incomplete credentials: {redact(str(error))}",
            hint="the entry needs auth_url plus username/password or an application credential",
        ) from error
    except exceptions.ConfigException as error:
        raise InputError(
            f"{clouds.where}: cloud {cloud!r}: {redact(str(error))}",
            hint="fix the entry in clouds.yaml",
        ) from error
    for key, value in CLIENT_RETRIES.items():
        region.config.setdefault(key, value)  # the user's clouds.yaml entry wins
    return connection.Connection(config=region)


# keystoneauth retries nothing by default but the image service's 503/429: every service of
# the cloud gets a few retries of a lost connection and of the transient statuses (waiting the
# Retry-After the cloud sends, else 0.5, 1, 2 … s). scs-testbed's own calls are reads and
# deletes, which a repeat cannot duplicate.
CLIENT_RETRIES: dict[str, Any] = {
    "connect_retries": 4,
    "status_code_retries": 5,
    "retriable_status_codes": [429, 500, 502, 503, 504],
}


def _authenticate(
    conn: Connection, cloud: str, clouds: CloudsFile, limits: Timeouts, quiet: bool = False
) -> None:
    """Get a token now, so that every credential or network problem shows up here, named.

    keystoneauth sends up to two requests (version discovery, then the token request, also
    when discovery timed out); the whole of it ends within the read timeout.
    """
    import requests
    from keystoneauth1 import exceptions as ks

    from scs_testbed import ui

    auth_url = redact(str((conn.config.config.get("auth") or {}).get("auth_url") or "?"))
    reach_hint = f"check auth_url in {clouds.where} and your network (VPN, proxy)"
    started = time.monotonic()
    said = nullcontext() if quiet else ui.waiting("the identity service", auth_url, limits.read)
    try:
        with said:
            gather({"token": conn.session.get_token}, Deadline.after(limits.read))
    except Unanswered as error:
        raise InputError(
            f"cloud {cloud!r}: no answer from its identity service at {auth_url} "
            f"within {limits.read:g} s",
            hint=f"{reach_hint}; {limits.hint()}",
        ) from error
    except ks.Unauthorized as error:
        raise InputError(
            f"cloud {cloud!r}: authentication failed (HTTP 401) at {auth_url}",
            hint=f"check the username/password or application credential of this entry in "
            f"{clouds.where}",
        ) from error
    except ks.ConnectTimeout as error:
        # connection attempts (discovery, then the token request) can both time out before
        # the deadline: say how long it really was
        connecting = isinstance(error.__context__, requests.exceptions.ConnectTimeout)
        waited = _seconds(time.monotonic() - started) if connecting else f"{limits.read:g}"
        raise InputError(
            f"cloud {cloud!r}: no answer from its identity service at {auth_url} within {waited} s",
            hint=f"{reach_hint}; {limits.hint()}",
        ) from error
    except ks.SSLError as error:
        raise InputError(
            f"cloud {cloud!r}: TLS failed with its identity service at {auth_url}",
            hint="check the URL, or set cacert: (the CA bundle) in the clouds.yaml entry",
        ) from error
    except ks.ConnectionError as error:
        raise InputError(
            f"cloud {cloud!r}: cannot reach its identity service at {auth_url}",
            hint=reach_hint,
        ) from error
    except (ks.MissingRequiredOptions, ks.NoMatchingPlugin, ks.OptionError) as error:
        raise InputError(
            f"{clouds.where}: cloud {cloud!r}: incomplete credentials: {redact(str(error))}",
            hint="the entry needs auth_url plus username/password or an application credential",
        ) from error
    except ks.DiscoveryFailure as error:
        raise InputError(
            f"cloud {cloud!r}: {auth_url} does not answer like an identity service "
            f"({redact(str(error))})",
            hint=f"auth_url must be the identity (keystone) endpoint, usually ending in /v3; "
            f"{reach_hint}",
        ) from error
    except ks.HttpError as error:
        raise InputError(
            f"cloud {cloud!r}: its identity service at {auth_url} answered HTTP "
            f"{error.http_status}",
            hint=f"{reach_hint}; check the project and domain names of the entry",
        ) from error
    except (ks.InvalidResponse, ValueError, TypeError, KeyError, AttributeError) as error:
        if not isinstance(error, ks.InvalidResponse) and not _raised_in_client(error):
            raise  # our own bug: keep the traceback (crash log)
        raise InputError(
            f"cloud {cloud!r}: {auth_url} does not answer like an identity service "
            "(its answer to the token request is not what keystone sends)",
            hint=f"auth_url must be the identity (keystone) endpoint, usually ending in /v3; "
            f"{reach_hint}",
        ) from error
    except ks.ClientException as error:
        raise InputError(
            f"cloud {cloud!r}: authentication at {auth_url} failed: {redact(str(error))}",
            hint=f"{reach_hint}; check the credentials of this entry in {clouds.where}",
        ) from error


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 1 else f"{value:.1f}"


class UnexpectedAnswer(Exception):
    """A cloud call returned something that is not what its API promises (e.g. nothing)."""


# Errors of these types count as the cloud's answer when raised inside openstacksdk,
# keystoneauth, requests or json: a body that is not JSON, or JSON of the wrong shape.
_SHAPE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError)
_CLIENT_PACKAGES = re.compile(r"[/\\](openstack|keystoneauth1|requests|urllib3|json)[/\\]")
_SERVICE_IN_PATH = re.compile(r"[/\\]openstack[/\\](?P<service>[a-z_]+)[/\\]v\d")


@contextmanager
def cloud_calls(conn: Any) -> Iterator[None]:
    """Turn what a cloud's services do wrong into one line naming the service (exit 2).

    An endpoint that hangs or cannot be reached, an HTTP error (500, 404 …), a service
    without supported API versions, a body that is not JSON or JSON of the wrong shape: each
    becomes an InputError naming the service and its endpoint (redacted), never a traceback.
    """
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions as sdk

    name = getattr(getattr(conn, "config", None), "name", None)
    cloud = f"cloud {name!r}" if isinstance(name, str) else "the cloud"
    try:
        yield
    except Unanswered as error:
        named = [_service_named(service, conn) for service in error.services]
        raise InputError(
            f"{cloud}: no answer from {_listed(named) or 'its services'} within {error.limit:g} s",
            hint=f"the cloud may be overloaded or the endpoint unreachable from here; retry "
            f"later, or raise the limit with {TIMEOUT_VARIABLE}=SECONDS or api_timeout in "
            "clouds.yaml",
        ) from error
    except ks.ConnectTimeout as error:
        read = request_limit(conn)
        within = f" within {read:g} s" if read is not None else ""
        raise InputError(
            f"{cloud}: no answer from {_endpoint(error)}{within}",
            hint=f"the cloud may be overloaded or the endpoint unreachable from here; retry "
            f"later, or raise the limit with {TIMEOUT_VARIABLE}=SECONDS or api_timeout in "
            "clouds.yaml",
        ) from error
    except ks.ConnectionError as error:
        raise InputError(
            f"{cloud}: cannot reach {_endpoint(error)}",
            hint="the service catalog names an endpoint this machine cannot reach: check your "
            "network (VPN, proxy) or the cloud's interface (interface: public in clouds.yaml)",
        ) from error
    except (sdk.HttpException, ks.HttpError) as error:
        status = getattr(error, "status_code", None) or getattr(error, "http_status", None)
        url = getattr(error, "url", None)
        where = redact(str(url)) if url else _service_of(error, conn)
        raise InputError(
            f"{cloud}: {where} answered HTTP {status or '?'}"
            + (f" ({_short(error)})" if _short(error) else ""),
            hint=_SERVICE_HINT,
        ) from error
    except (sdk.SDKException, ks.ClientException) as error:  # NotSupported, discovery …
        raise InputError(
            f"{cloud}: {_service_of(error, conn)}: {_short(error) or type(error).__name__}",
            hint=_SERVICE_HINT,
        ) from error
    except UnexpectedAnswer as error:
        raise InputError(
            f"{cloud}: {_service_of(error, conn)} answered unexpectedly: {error}",
            hint=_SERVICE_HINT,
        ) from error
    except _SHAPE_ERRORS as error:
        if not _raised_in_client(error):
            raise  # our own bug: keep the traceback (crash log)
        raise InputError(
            f"{cloud}: {_service_of(error, conn)} does not answer like an OpenStack API "
            f"(the answer is not JSON or has the wrong shape: {type(error).__name__})",
            hint=_SERVICE_HINT,
        ) from error


_SERVICE_HINT = (
    "the cloud's service misbehaves (or the catalog points at something else): retry later, "
    "ask the cloud's operator, or use --debug to see the requests"
)


def _short(error: BaseException) -> str:
    """The error's message on one line, redacted and cut short (bodies can be long)."""
    text = " ".join(redact(str(error)).split())
    return text[:200] + ("…" if len(text) > 200 else "")


def _raised_in_client(error: BaseException) -> bool:
    """True when the innermost frame of the error is in the client libraries (or json)."""
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return bool(last and _CLIENT_PACKAGES.search(last))


def _service_of(error: BaseException, conn: Any) -> str:
    """`the compute service at URL`, from the openstacksdk frames the error passed through."""
    service = None
    tb = error.__traceback__
    while tb is not None:
        match = _SERVICE_IN_PATH.search(tb.tb_frame.f_code.co_filename)
        if match:
            service = match["service"]
        tb = tb.tb_next
    found = re.search(r"\bThe (?P<service>[\w-]+) service\b", str(error))
    service = service or (found["service"] if found else None)
    if not service:
        return "one of its services"
    return _service_named(service, conn)


def _service_named(service: str, conn: Any) -> str:
    """`the block storage service at URL` for a service type (URL from the catalog)."""
    try:  # the catalog came with the token: no request
        url = conn.endpoint_for(service.replace("_", "-"))
    except Exception:
        url = None
    return f"the {service.replace('_', ' ').replace('-', ' ')} service" + (
        f" at {redact(url)}" if url else ""
    )


def _listed(items: Iterable[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def _endpoint(error: BaseException) -> str:
    """The URL a keystoneauth connection error is about, redacted."""
    match = _URL_IN_ERROR.search(str(error))
    return redact(match["url"]) if match else "one of its endpoints"


def project_id(conn: Connection) -> str:
    return str(conn.current_project_id)


def as_dict(resource: Any) -> dict[str, Any]:
    """A plain dict of an openstacksdk resource (or a dict passed through)."""
    if isinstance(resource, dict):
        return resource
    if resource is None or not hasattr(resource, "to_dict"):
        raise UnexpectedAnswer(f"{type(resource).__name__} where a resource was expected")
    return dict(resource.to_dict(computed=True))
