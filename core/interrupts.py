"""Stopping a run (SIGTERM) only where it can still clean up after itself.

A Python signal handler runs between any two bytecodes of the main thread. One that raises
inside ``subprocess.Popen()``, after ffmpeg has started but before the caller holds the
process, orphans that ffmpeg: nobody kills it, and it goes on to create the hidden result
file the caller has already removed. So the main thread marks such spans with
:func:`hold` and :func:`release`; a stop requested inside one is held, and :func:`release`
raises it at the first point that can unwind cleanly (inside the block that kills ffmpeg on
error).
"""

from __future__ import annotations

import threading

__all__ = ["hold", "release", "stop"]

_depth = 0  # deferred spans the main thread is inside (signal handlers run only there)
_pending: BaseException | None = None


def hold() -> None:
    """Start a span of the main thread a stop must not interrupt (other threads: no effect).

    Every :func:`hold` is ended by one :func:`release`, on every path."""
    global _depth
    if threading.current_thread() is threading.main_thread():
        _depth += 1


def release() -> None:
    """End the span :func:`hold` began, and raise the stop it held back, if any."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        return
    _depth = max(0, _depth - 1)
    if _pending is not None and not _depth:
        exc, _pending = _pending, None
        raise exc


def stop(exc: BaseException) -> None:
    """Called from a signal handler: raise ``exc`` now, or hold it until the span ends."""
    global _pending
    if _depth:
        _pending = exc
        return
    raise exc
