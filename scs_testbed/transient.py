"""Which failures of a cloud are worth another attempt, told in one short line.

One table (`TRANSIENT_ERRORS`) serves both sides: Terraform's error text (the provider gives up
on 5xx, 409, 429, resets and refused connections without retrying) and the errors of
openstacksdk / keystoneauth that reach scs-testbed's own cloud calls (the leftover step). A
retry is announced as `retrying in 5 s: 503 from compute`; `short_reason` builds the part after
the colon, `retry_after` reads a Retry-After the error text shows.
"""

from __future__ import annotations

import re

# Errors worth another attempt: (regular expression on the error text, why it is transient).
TRANSIENT_ERRORS: tuple[tuple[str, str], ...] = (
    (
        r"\b50[0234]\b|Gateway Time-?out|Service Unavailable|Bad Gateway|Internal Server Error",
        "HTTP 5xx from an API",
    ),
    (r"Can not get vracks for tenant", "OVH vRack lookup (known to fail transiently)"),
    (
        r"Quota exceeded|QuotaExceeded|OverQuota|over quota",
        "quota, while an earlier testbed is still being deleted",
    ),
    (
        r"connection reset by peer|connection refused|broken pipe|i/o timeout|"
        r"TLS handshake timeout|Client\.Timeout exceeded|context deadline exceeded|"
        r"unexpected EOF|EOF$|retries exhausted|RemoteDisconnected|Connection aborted|"
        r"Max retries exceeded|Unable to establish connection|ConnectFailure",
        "network hiccup between the client and the cloud",
    ),
    (r"Rate limit|Too Many Requests|\b429\b", "API rate limit"),
    # A 409 of an API (a resource busy, or one that a request the client never saw the answer
    # to has made already): the next attempt removes untracked duplicates first.
    (r"\bgot 409\b|\b409 Conflict\b|\bHTTP 409\b|ConflictException", "409 Conflict from an API"),
)

# OpenStack services, as Terraform's resource types, client names and API paths name them.
_SERVICES: tuple[tuple[str, str], ...] = (
    (r"openstack_compute_|compute client|/v2\.1\b|:\d*8774\b|\bcompute\b|\bnova\b", "compute"),
    (r"openstack_networking_|networking client|/v2\.0/|:\d*9696\b|\bneutron\b", "network"),
    (
        r"openstack_blockstorage_|block ?storage client|/v3/[0-9a-f]{32}/|:\d*8776\b|cinder",
        "block storage",
    ),
    (r"openstack_images_|image client|/v2/images|:\d*9292\b|glance", "image"),
    (r"/v3/auth|identity|keystone|:\d*5000\b", "identity"),
)
_KINDS: tuple[tuple[str, str], ...] = (
    (r"got (\d{3}) instead", r"\1"),
    (r"\bHTTP (\d{3})\b", r"\1"),
    (r"connection refused", "connection refused"),
    (r"connection reset|broken pipe|RemoteDisconnected|Connection aborted", "connection reset"),
    (r"timeout|deadline exceeded|timed out", "timeout"),
    (r"unexpected EOF|EOF$", "connection closed"),
    (r"\b(50[0234]|429|409)\b", r"\1"),
)


def transient_reason(text: str) -> str | None:
    """Why an error message looks transient (retry it), or None."""
    for pattern, reason in TRANSIENT_ERRORS:
        if re.search(pattern, text, re.IGNORECASE | re.MULTILINE):
            return reason
    return None


def short_reason(text: str, where: str = "") -> str:
    """`503 from compute`, `connection refused from network`: what failed, where (for a line).

    `where` (a resource address) names the service when the text does not.
    """
    kind = ""
    for pattern, replacement in _KINDS:
        match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
        if match:
            kind = match.expand(replacement)
            break
    kind = kind or (transient_reason(text) or "error")
    for source in (where, text):
        for pattern, service in _SERVICES:
            if source and re.search(pattern, source, re.IGNORECASE):
                return f"{kind} from {service}"
    return kind


def retry_after(text: str) -> float | None:
    """Seconds a `Retry-After` in the error text asks for (None when it shows none)."""
    match = re.search(r"Retry-After\W{0,3}(\d{1,4})\b", text, re.IGNORECASE)
    return float(match[1]) if match else None


def next_delay(planned: float, text: str, ceiling: float = 300.0) -> float:
    """The wait before the next attempt: the planned backoff, or longer if the cloud asked."""
    asked = retry_after(text)
    return min(max(planned, asked or 0.0), ceiling)


def transient_exception(error: BaseException) -> str | None:
    """The short reason when an exception (or one it came from) is a transient cloud error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = getattr(current, "status_code", None) or getattr(current, "http_status", None)
        text = f"{type(current).__name__}: {current}"
        if isinstance(status, int) and status in (409, 429, 500, 502, 503, 504):
            return short_reason(f"HTTP {status} {text}")
        if transient_reason(text):
            return short_reason(text)
        current = current.__cause__ or current.__context__
    return None
