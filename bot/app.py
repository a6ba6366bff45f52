"""Building and running the bot; nothing here runs at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from vkbottle import API, Bot
from vkbottle.bot import BotLabeler
from vkbottle.polling import BotPolling

from bot.context import BotContext
from bot.handlers import make_labelers
from bot.middlewares import make_middlewares
from bot.settings import Settings
from bot.vk import make_api

log = logging.getLogger("smask.bot")


def create_bot(settings: Settings, *, api: API | None = None, ctx: BotContext | None = None) -> Bot:
    """A vkbottle Bot with our labelers and middlewares; tests pass an API for the fake VK.

    Long poll is given the group id, so it never needs ``groups.getById``.
    """
    api = api or make_api(settings)
    ctx = ctx or BotContext.build(settings)
    polling = BotPolling(api, group_id=settings.group_id)
    # skip_old_events=False: after a restart, resume from the long-poll ts vkbottle saved under
    # ./.vkbottle/, so messages sent while the bot was down are still answered.
    bot = Bot(api=api, polling=polling, labeler=BotLabeler(), skip_old_events=False)
    for middleware in make_middlewares(settings.group_id):
        bot.labeler.message_view.register_middleware(middleware)
    for labeler in make_labelers(ctx):
        bot.labeler.load(labeler)
    return bot


async def serve(bot: Bot, stop: asyncio.Event | None = None) -> None:
    """Long-poll until ``stop`` is set (or SIGINT/SIGTERM arrives), then close cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers hand their (short, I/O-bound) job-table calls to threads; with many users
    # writing at once the default pool (cores + 4) would queue them behind each other.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="smask-io"))
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    polling = asyncio.create_task(bot.run_polling())
    waiter = asyncio.create_task(stop.wait())
    log.info("bot is listening (long poll)")
    done, _ = await asyncio.wait({polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
    for task in (polling, waiter):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await polling
    if polling in done and polling.exception() is not None:
        raise polling.exception()  # type: ignore[misc]
    await bot.api.http_client.close()
    log.info("bot stopped")
