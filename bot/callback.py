"""Callback API (VK calls us over HTTPS) as the production alternative to long poll.

VK posts each event as JSON; we answer ``ok`` at once and handle the event in a task, because
VK re-sends an event that is not acknowledged within a few seconds (the dedup middleware and
the idempotent job table absorb those re-sends). A ``confirmation`` event is answered with
the code from the community settings, and every event must carry our secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from typing import Any

from aiohttp import web
from vkbottle import Bot

from bot.logsafe import describe_error
from bot.settings import Settings

log = logging.getLogger("smask.bot")


MAX_BODY_BYTES = 1024 * 1024  # VK's events are a few kB; anything larger is refused (413)


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


def make_callback_app(bot: Bot, settings: Settings) -> web.Application:
    pending: set[asyncio.Task[None]] = set()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()  # over client_max_size: aiohttp answers 413 itself
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


async def serve_callback(bot: Bot, settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Serve the callback endpoint until ``stop`` (or SIGINT/SIGTERM); returns the bound port."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_callback_app(bot, settings), access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, settings.callback_host, settings.callback_port or 0)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    port = int(sockets[0].getsockname()[1]) if sockets else 0
    log.info("bot is listening (Callback API on port %d%s)", port, settings.callback_path)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await bot.api.http_client.close()
    return port
