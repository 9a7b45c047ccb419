"""openstacksdk connections, with the failures users meet turned into clear errors.

`connect()` is the one place a connection to the user's cloud is made. It reads and checks
clouds.yaml first (`clouds_yaml`), hands openstacksdk exactly that file, and gives every request
a connect and a read timeout, so an endpoint that accepts connections and never answers ends in
an error instead of a hang:
  - connect timeout: 10 s (or the read timeout, when that is smaller);
  - read timeout: 60 s, or `api_timeout` of the clouds.yaml entry, or
    `SCS_TESTBED_API_TIMEOUT` (seconds; wins over both, e.g. for CI).
A request that does not get through (version discovery, then the token request) waits at most
that long each. Messages name the endpoint with any password in its URL masked.

openstacksdk is imported lazily: `scs-testbed --help` must not pay for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
            f"the limit was {self.read:g} s per request ({self.source}); raise it with "
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
                f"(default: {DEFAULT_READ_TIMEOUT:g} s per request)",
            )
        source = TIMEOUT_VARIABLE
    elif entry.get("api_timeout") is not None:
        read = api_timeout(f"{where}: cloud {cloud!r}", entry["api_timeout"])
        source = f"api_timeout of cloud {cloud!r}"
    else:
        read, source = DEFAULT_READ_TIMEOUT, "the default"
    return Timeouts(min(DEFAULT_CONNECT_TIMEOUT, read), read, source)


def connect(cloud: str) -> Connection:
    """An authenticated connection to the clouds.yaml entry `cloud`, with request timeouts."""
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
    _authenticate(conn, cloud, clouds, limits)
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
    return connection.Connection(config=region)


def _authenticate(conn: Connection, cloud: str, clouds: CloudsFile, limits: Timeouts) -> None:
    """Get a token now, so that every credential or network problem shows up here, named."""
    import requests
    from keystoneauth1 import exceptions as ks

    auth_url = redact(str((conn.config.config.get("auth") or {}).get("auth_url") or "?"))
    reach_hint = f"check auth_url in {clouds.where} and your network (VPN, proxy)"
    try:
        conn.session.get_token()
    except ks.Unauthorized as error:
        raise InputError(
            f"cloud {cloud!r}: authentication failed (HTTP 401) at {auth_url}",
            hint=f"check the username/password or application credential of this entry in "
            f"{clouds.where}",
        ) from error
    except ks.ConnectTimeout as error:
        connecting = isinstance(error.__context__, requests.exceptions.ConnectTimeout)
        waited = limits.connect if connecting else limits.read
        raise InputError(
            f"cloud {cloud!r}: no answer from its identity service at {auth_url} "
            f"within {waited:g} s",
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
    except ks.ConnectTimeout as error:
        timeout = getattr(getattr(conn, "session", None), "timeout", None)
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        within = f" within {read:g} s" if isinstance(read, float | int) else ""
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
    try:  # the catalog came with the token: no request
        url = conn.endpoint_for(service.replace("_", "-"))
    except Exception:
        url = None
    return f"the {service.replace('_', ' ')} service" + (f" at {redact(url)}" if url else "")


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
