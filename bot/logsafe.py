"""Keeping secrets out of every line the service prints.

vkbottle sends the community token as ``access_token=`` in the query string, and aiohttp puts
the full request URL into some exceptions (``ConnectionTimeoutError`` when VK cannot be
reached, ``ContentTypeError`` when a proxy answers HTML), so ``log.warning("%r", exc)`` would
print the token. Two layers stop that:

* ``describe_error(exc)`` is what our own log lines say about a failure: the error's type and
  a short reason, with every URL cut down to scheme, host and path;
* ``RedactingFilter`` sits on the process's log handlers and rewrites every record (ours,
  vkbottle's, huey's, tracebacks included) so that ``access_token=``, passwords, URL
  credentials and the configured secrets themselves never reach the output.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry credentials: VK's token, a Redis ``?password=``, VK doc links'
# signatures (``hash``, ``extra``) and long-poll keys.
SECRET_PARAMS = (
    "access_token",
    "token",
    "password",
    "passwd",
    "pass",
    "secret",
    "key",
    "hash",
    "extra",
    "sig",
)
_PARAM_RE = re.compile(r"(?i)((?:[?&;]|\b)(?:" + "|".join(SECRET_PARAMS) + r")=)[^&\s'\"<>,;)\]]*")
# ``access_token`` in a JSON or repr dump of request parameters: 'access_token': '...'
_KEYED_RE = re.compile(r"(?i)((?:access_token|password|secret)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}&]+")
# ``scheme://user:password@host``: keep the user, hide the password.
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+@")
_URL_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")
MAX_REASON_CHARS = 200


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``; ``secrets`` are hidden wherever they occur."""
    for secret in secrets:
        if secret and len(secret) >= 4:  # a one-letter "secret" would blank every line
            text = text.replace(secret, MASK)
    text = _USERINFO_RE.sub(r"\1" + MASK + "@", text)
    text = _PARAM_RE.sub(r"\1" + MASK, text)
    return _KEYED_RE.sub(r"\1" + MASK, text)


def _bare_url(match: re.Match[str]) -> str:
    """A URL as scheme://host/path: no credentials, no query (where tokens and hashes live)."""
    try:
        parts = urlsplit(match.group(0))
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port is not None else "")
    except ValueError:
        return "<url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def describe_error(exc: BaseException) -> str:
    """``"ConnectionTimeoutError: Connection timeout to host http://h/method/messages.send"``.

    What a log line should say about a failure: the error's type and a short reason. URLs are
    reduced to scheme, host and path, and whatever else looks like a credential is masked.
    """
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    if isinstance(code, int) and name.startswith("VKAPIError"):
        name = f"VK error {code}"
    reason = _URL_RE.sub(_bare_url, str(exc))
    reason = redact(" ".join(reason.split()))
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return f"{name}: {reason}" if reason else name


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and traceback so no credential is printed.

    Put it on *handlers* (``install``): a handler filter sees every record that reaches the
    handler, including those of vkbottle, aiohttp and huey, where a logger filter would only
    see records logged to that very logger.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have, unformatted
            message = str(record.msg)
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def _all_handlers() -> list[logging.Handler]:
    """The root's handlers and those libraries attached to their own loggers."""
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers += logger.handlers
    return handlers


def install(secrets: Iterable[str] = ()) -> RedactingFilter:
    """Put one ``RedactingFilter`` on every handler that exists now (root's and libraries').

    vkbottle attaches a colour handler of its own to the ``vkbottle`` logger, which prints
    every record a second time; it is removed, so vkbottle's records are printed once, by the
    root's handler. Uncaught exceptions (main thread and others) are routed through logging
    too, so their tracebacks pass the filter instead of going to stderr raw.
    """
    vkbottle_log = logging.getLogger("vkbottle")
    for handler in list(vkbottle_log.handlers):
        vkbottle_log.removeHandler(handler)
    vkbottle_log.propagate = True
    filt = RedactingFilter(secrets)
    for handler in _all_handlers():
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(filt)
    crash_log = logging.getLogger("smask")

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        crash_log.critical("uncaught %s", describe_error(exc), exc_info=(kind, exc, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or args.exc_type is SystemExit:
            return
        crash_log.critical(
            "uncaught %s in thread %s",
            describe_error(args.exc_value),
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    return filt
