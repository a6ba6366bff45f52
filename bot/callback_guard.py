"""Bounds on the Callback API's connections: how long a request may take to arrive, and how
many connections may be open at once.

The callback port is public and anyone can open a connection without knowing our secret.
aiohttp waits for ever for a request's headers and body, so thousands of half-sent requests
used to pile up until the process ran out of file descriptors: VK's own events could no
longer be accepted, the bot could not open a connection to VK to answer them, and asyncio
logged a traceback for every failed accept. This guard sits between the listening socket and
aiohttp's protocol: each connection gets a deadline for its whole request, and past the cap
the oldest connection still sending its request makes room for the newcomer. A real VK event
arrives whole within milliseconds, so it is the slow connections that go. Closures are
counted and summed up in one log line a minute, never logged one by one.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger("smask.bot")

REPORT_EVERY_S = 60.0


def connection_cap(wanted: int) -> int:
    """``wanted``, but at most half the open-file limit: the rest stays for the bot's own
    connections to VK, its databases and its worker, which an attack must never starve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft // 2))


class ConnectionGuard:
    """Tracks the server's open connections and closes slow or surplus ones.

    A connection is *reading* from the moment it opens, or from our last answer on it, until
    its request's body has been read; only reading connections have a deadline and can be
    closed to make room. One whose request is being handled is never touched.
    """

    def __init__(
        self,
        *,
        read_timeout_s: float,
        max_connections: int,
        report_every_s: float = REPORT_EVERY_S,
    ) -> None:
        if not read_timeout_s > 0:  # also refuses NaN
            raise ValueError("VK_CALLBACK_READ_TIMEOUT_S must be a positive number of seconds")
        if max_connections < 1:
            raise ValueError("VK_CALLBACK_MAX_CONNECTIONS must be at least 1")
        self.read_timeout_s = read_timeout_s
        self.max_connections = max_connections
        self.report_every_s = report_every_s
        self.open: dict[asyncio.BaseTransport, _GuardedConnection] = {}
        # Reading connections, oldest deadline first: the first one is closed to make room.
        self._reading: OrderedDict[asyncio.BaseTransport, asyncio.TimerHandle] = OrderedDict()
        self.timed_out = 0
        self.crowded_out = 0
        self._report: asyncio.TimerHandle | None = None

    def protocol_factory(
        self, inner: Callable[[], asyncio.Protocol]
    ) -> Callable[[], asyncio.Protocol]:
        """What ``loop.create_server`` needs: aiohttp's protocol, wrapped by the guard."""
        return lambda: _GuardedConnection(self, inner())

    # --- called by the request handler ---------------------------------------------------------
    def request_read(self, transport: asyncio.BaseTransport | None) -> None:
        """The request arrived whole: it is being handled, so no deadline while it is."""
        handle = self._reading.pop(transport, None) if transport is not None else None
        if handle is not None:
            handle.cancel()

    def request_answered(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection may carry another request (keep-alive): a new deadline for it."""
        if transport is not None and transport in self.open and not transport.is_closing():
            self.open[transport].expect_request()
            self._start_reading(transport)

    # --- called by the connections ---------------------------------------------------------------
    def opened(self, transport: asyncio.BaseTransport, conn: _GuardedConnection) -> bool:
        """Admit a new connection, closing the oldest reading one if the cap is reached;
        False (and the newcomer closed) when every open connection is being handled."""
        if len(self.open) >= self.max_connections:
            self._count("crowded_out")
            if not self._reading:
                _abort(transport)
                return False
            self._close(next(iter(self._reading)))
        self.open[transport] = conn
        self._start_reading(transport)
        return True

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self.open.pop(transport, None)
        handle = self._reading.pop(transport, None)
        if handle is not None:
            handle.cancel()

    def _start_reading(self, transport: asyncio.BaseTransport) -> None:
        self.request_read(transport)
        loop = asyncio.get_running_loop()
        self._reading[transport] = loop.call_later(self.read_timeout_s, self._timed_out, transport)

    def _timed_out(self, transport: asyncio.BaseTransport) -> None:
        self._reading.pop(transport, None)
        self._count("timed_out")
        self._close(transport)

    def _close(self, transport: asyncio.BaseTransport) -> None:
        """Close at once: a slow client's unread bytes are not worth waiting for."""
        self.closed(transport)
        _abort(transport)

    # --- the summary line ------------------------------------------------------------------------
    def _count(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        if self._report is None:
            loop = asyncio.get_running_loop()
            self._report = loop.call_later(self.report_every_s, self.report)

    def report(self) -> None:
        """Log what was closed since the last report, in one line (also at shutdown)."""
        if self._report is not None:
            self._report.cancel()
            self._report = None
        if not (self.timed_out or self.crowded_out):
            return
        log.warning(
            "callback: closed %d connections that sent no whole request within %g s and %d "
            "over the limit of %d open connections in the last %g s (slow clients or an attack)",
            self.timed_out,
            self.read_timeout_s,
            self.crowded_out,
            self.max_connections,
            self.report_every_s,
        )
        self.timed_out = self.crowded_out = 0


HEAD_WATCH_BYTES = 16384  # request head bytes the guard reads for its Content-Length


def _content_length(head: bytes) -> int | None:
    """The Content-Length of a request head, or None (absent, repeated or not a number)."""
    found = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]
             if line[:15].lower() == b"content-length:"]  # fmt: skip
    if len(found) != 1 or not found[0].isdigit():
        return None
    return int(found[0])


def _abort(transport: asyncio.BaseTransport) -> None:
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


class _GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, seen by the guard first.

    Delegation, not a subclass of aiohttp's private RequestHandler: aiohttp sees the real
    transport and runs exactly as it would without the guard.
    """

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None
        self.expect_request()

    def expect_request(self) -> None:
        """Watch the next request's bytes arrive (see :meth:`_watch`)."""
        self._head = b""
        self._body_left: int | None = None
        self._watching = True

    def _watch(self, data: bytes) -> None:
        """Mark the request read the moment its last byte (by Content-Length) arrives.

        The handler says so too, but only once aiohttp has parsed the request and the event
        loop has run its task; under a flood of new connections the loop can accept hundreds
        first, each crowding out the oldest reading connection, and a real event that had
        fully arrived was closed before its handler ran (seen in CI). A request without a
        Content-Length (chunked) is left to the handler.
        """
        if not self._watching or self._transport is None:
            return
        if self._body_left is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > HEAD_WATCH_BYTES:
                    self._watching = False  # aiohttp refuses such headers itself
                return
            length = _content_length(self._head[:end])
            if length is None:
                self._watching = False
                return
            self._body_left = length - (len(self._head) - end - 4)
            self._head = b""
        else:
            self._body_left -= len(data)
        if self._body_left <= 0:
            self._watching = False
            self._guard.request_read(self._transport)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)
        if self._guard.opened(transport, self):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._watch(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.closed(self._transport)
        self._inner.connection_lost(exc)
