"""Callback API (VK calls us over HTTPS) as the production alternative to long poll.

VK posts each event as JSON; we answer ``ok`` at once and handle the event in a task, because
VK re-sends an event that is not acknowledged within a few seconds (the dedup middleware and
the idempotent job table absorb those re-sends). A ``confirmation`` event is answered with
the code from the community settings, and every event must carry our secret.

The port is public, so the server bounds what a stranger can hold open: a request must arrive
whole within ``callback_read_timeout_s``, at most ``callback_max_connections`` connections are
open, and header lines and counts are capped (see ``bot.callback_guard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from vkbottle import Bot

from bot.callback_guard import ConnectionGuard, connection_cap
from bot.logsafe import describe_error
from bot.settings import Settings

log = logging.getLogger("smask.bot")


MAX_BODY_BYTES = 1024 * 1024  # VK's events are a few kB; anything larger is refused (413)
# VK sends a dozen short headers. aiohttp's defaults (128 fields of 8 KiB) let each of
# hundreds of half-sent requests hold a megabyte of header text.
MAX_HEADER_LINE = 4096  # bytes in the request line or one header
MAX_HEADERS = 32
LISTEN_BACKLOG = 128


def parse_event(body: bytes) -> dict[str, Any] | str:
    """The event object, or why the body is not one (the text of a 400 answer).

    Anything can arrive at a public endpoint: invalid UTF-8, JSON nested deep enough to
    exhaust the parser's recursion, numbers too long to convert, arrays, strings. Each is a
    client error, never a 500 with a traceback.
    """
    try:
        event: Any = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return "bad json"
    if not isinstance(event, dict):
        return "not an event"
    if not isinstance(event.get("type"), str):
        return "bad type"
    if "object" in event and not isinstance(event["object"], dict):
        return "bad object"
    return event


def secret_matches(given: object, expected: str) -> bool:
    """Constant-time comparison of the event's secret with ours, for any value VK may send.

    ``hmac.compare_digest`` refuses a str with non-ASCII characters, so both sides are
    compared as UTF-8 bytes; a secret that is not a string never matches.
    """
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def make_callback_app(
    bot: Bot, settings: Settings, guard: ConnectionGuard | None = None
) -> web.Application:
    """The endpoint; ``guard`` (the real server's) learns when each request has been read
    and answered, so it only ever closes connections that are still sending one."""
    pending: set[asyncio.Task[None]] = set()

    async def handle(request: web.Request) -> web.Response:
        try:
            return await answer(request)
        finally:
            if guard is not None:
                guard.request_answered(request.transport)

    async def answer(request: web.Request) -> web.Response:
        try:
            body = await request.read()  # over client_max_size: aiohttp answers 413 itself
        except (ConnectionError, RequestPayloadError, RuntimeError) as exc:
            # The guard closed a body that came too slowly, or the client went away or sent
            # broken chunks: nobody is waiting for this answer, and it is no server error.
            # (aiohttp raises a bare RuntimeError when the connection was gone before reading.)
            if isinstance(exc, RuntimeError) and request.transport is not None:
                raise
            return web.Response(status=400, text="incomplete body")
        if guard is not None:
            guard.request_read(request.transport)
        event = parse_event(body)
        if isinstance(event, str):
            return web.Response(status=400, text=event)
        # Without a secret anyone could post events as VK: refuse them all (from_env insists).
        if not secret_matches(event.get("secret"), settings.callback_secret):
            log.warning("callback event with a wrong secret refused")
            return web.Response(status=403, text="forbidden")
        raw_group = event.get("group_id")
        if isinstance(raw_group, bool) or not isinstance(raw_group, (int, str, type(None))):
            return web.Response(status=400, text="bad group_id")
        try:
            group_id = abs(int(raw_group or 0))
        except (TypeError, ValueError):
            return web.Response(status=400, text="bad group_id")
        if group_id != settings.group_id:
            return web.Response(text="ok")  # not ours: acknowledge so VK stops re-sending
        if event["type"] == "confirmation":
            return web.Response(text=settings.callback_confirmation)
        task = asyncio.create_task(_process(bot, event))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return web.Response(text="ok")

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(settings.callback_path, handle)
    return app


async def _process(bot: Bot, event: dict[str, Any]) -> None:
    """Handle one event; a malformed one is logged in a line, never as a stray traceback."""
    try:
        await bot.process_event(event)
    except Exception as exc:
        log.warning(
            "callback event %s could not be handled: %s",
            str(event.get("type"))[:40],
            describe_error(exc),
        )


@contextlib.asynccontextmanager
async def callback_server(bot: Bot, settings: Settings) -> AsyncIterator[int]:
    """The endpoint listening behind its connection guard; yields the bound port.

    The listening socket is ours rather than a ``web.TCPSite``'s, so that every connection
    passes the guard before aiohttp sees it.
    """
    guard = ConnectionGuard(
        read_timeout_s=settings.callback_read_timeout_s,
        max_connections=connection_cap(settings.callback_max_connections),
    )
    runner = web.AppRunner(
        make_callback_app(bot, settings, guard),
        access_log=None,
        shutdown_timeout=5,
        max_line_size=MAX_HEADER_LINE,
        max_field_size=MAX_HEADER_LINE,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    assert runner.server is not None  # set by setup()
    server = await asyncio.get_running_loop().create_server(
        guard.protocol_factory(runner.server),
        settings.callback_host,
        settings.callback_port or 0,
        reuse_address=True,
        backlog=LISTEN_BACKLOG,
    )
    port = int(server.sockets[0].getsockname()[1]) if server.sockets else 0
    log.info(
        "bot is listening (Callback API on port %d%s; at most %d connections, %g s per request)",
        port,
        settings.callback_path,
        guard.max_connections,
        guard.read_timeout_s,
    )
    try:
        yield port
    finally:
        server.close()
        await runner.cleanup()
        await server.wait_closed()
        guard.report()


async def serve_callback(bot: Bot, settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Serve the callback endpoint until ``stop`` (or SIGINT/SIGTERM); returns the bound port."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with callback_server(bot, settings) as port:
            await stop.wait()
    finally:
        await bot.api.http_client.close()
    return port
