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
import logging
import signal
from typing import Any

from aiohttp import web
from vkbottle import Bot

from bot.settings import Settings

log = logging.getLogger("smask.bot")


def make_callback_app(bot: Bot, settings: Settings) -> web.Application:
    pending: set[asyncio.Task[None]] = set()

    async def handle(request: web.Request) -> web.Response:
        try:
            event: Any = await request.json()
        except ValueError:
            return web.Response(status=400, text="bad json")
        if not isinstance(event, dict):
            return web.Response(status=400, text="not an event")
        secret = settings.callback_secret
        # Without a secret anyone could post events as VK: refuse them all (from_env insists).
        if not secret or not hmac.compare_digest(str(event.get("secret", "")), secret):
            log.warning("callback event with a wrong secret refused")
            return web.Response(status=403, text="forbidden")
        try:
            group_id = abs(int(event.get("group_id") or 0))
        except (TypeError, ValueError):
            return web.Response(status=400, text="bad group_id")
        if group_id != settings.group_id:
            return web.Response(text="ok")  # not ours: acknowledge so VK stops re-sending
        if event.get("type") == "confirmation":
            return web.Response(text=settings.callback_confirmation)
        task = asyncio.create_task(bot.process_event(event))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return web.Response(text="ok")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(settings.callback_path, handle)
    return app


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
