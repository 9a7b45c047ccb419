"""Keep credentials out of everything the tool shows or writes: messages, logs, crash logs.

Three kinds of secret are recognised:
  - any URL's user-info password (`https://user:pass@host` -> `https://user:***@host`); the
    password runs to the last `@` before the host, so `/`, `:` and `@` in it are masked too;
  - the value of a secret-looking query parameter (`?token=...`, `&password=...`);
  - values registered at run time (passwords, application credential secrets, tokens read
    from clouds.yaml, and the URL secrets above found there), wherever they appear.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
# user-info password: up to the `@` that is followed by a host (no further `@`) and the end
# of the authority; non-greedy, so a later `@` in the path is not taken for it
URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>\S*?)@"
    r"(?=[^@\s/?#]*(?:[/?#\s\"'<>]|$))"
)
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;][^=&;#\s]*?(?:token|password|passwd|pwd|secret|signature|sig|credential|"
    r"api[_-]?key|access[_-]?key|passcode)[^=&;#\s]*=)(?P<value>[^&;#\s\"'<>]+)",
    re.IGNORECASE,
)
MAX_WALK = 100_000  # nodes of a structure remember_secrets_in looks at (alias bombs, cycles)
_lock = threading.Lock()
_secrets: set[str] = set()
SECRET_KEYS = frozenset(
    {"password", "application_credential_secret", "token", "secret", "passcode", "totp"}
)


def remember_secret(value: object) -> None:
    """Register a secret value to be masked from now on (short values are ignored: too noisy)."""
    if isinstance(value, str) and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def url_secrets(text: str) -> list[str]:
    """The user-info passwords and secret query values of the URLs in `text`."""
    found = [m["password"] for m in URL_PASSWORD.finditer(text)]
    found += [m["value"] for m in _QUERY_SECRET.finditer(text)]
    return [f for f in found if f and f != MASK]


def remember_secrets_in(mapping: object) -> None:
    """Register every value under a secret-looking key of a (nested) mapping, e.g. clouds.yaml,
    and the secrets in every URL-like string of it.

    Iterative, each container visited once, at most MAX_WALK nodes: a YAML alias bomb or a
    cyclic structure costs bounded time.
    """
    seen: set[int] = set()
    stack: list[tuple[object, bool]] = [(mapping, False)]
    walked = 0
    while stack and walked < MAX_WALK:
        node, secret = stack.pop()
        walked += 1
        if isinstance(node, dict | list):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, dict):
                for key, value in node.items():
                    named = isinstance(key, str) and key.lower() in SECRET_KEYS
                    stack.append((value, named))
            else:
                stack.extend((item, False) for item in node)
        elif isinstance(node, str):
            if secret:
                remember_secret(node)
            elif "://" in node or "@" in node or "=" in node:
                for found in url_secrets(node if "://" in node else "x://" + node):
                    remember_secret(found)


def redact(text: str) -> str:
    """`text` with URL passwords, secret query values and registered secrets replaced by ***."""
    text = URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


_log_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record's message from now on, whichever handler writes it.

    keystoneauth logs request URLs (with any user-info password) under --debug; a record
    factory reaches records of every logger and handler, also ones configured later.
    Idempotent.
    """
    import logging

    global _log_factory_installed
    with _lock:
        if _log_factory_installed:
            return
        _log_factory_installed = True
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it for logging to report
            return record
        record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(redacted_record)
