"""Keep credentials out of everything the tool shows or writes: messages, logs, crash logs.

Two kinds of secret are recognised:
  - any URL's user-info password (`https://user:pass@host` -> `https://user:***@host`);
  - values registered at run time (passwords, application credential secrets, tokens read
    from clouds.yaml), wherever they appear.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
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


def remember_secrets_in(mapping: object) -> None:
    """Register every value under a secret-looking key of a (nested) mapping, e.g. clouds.yaml."""
    if isinstance(mapping, dict):
        for key, value in mapping.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS:
                remember_secret(value)
            else:
                remember_secrets_in(value)
    elif isinstance(mapping, list):
        for item in mapping:
            remember_secrets_in(item)


def redact(text: str) -> str:
    """`text` with URL passwords and every registered secret replaced by ***."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
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
