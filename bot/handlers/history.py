"""/history (/история): the learner's progress as a picture and a sentence; /forget (/забыть):
every take, setting and tune of theirs deleted at once (issue 25)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from vkbottle import PhotoMessageUploader
from vkbottle.bot import BotLabeler, Message

from bot import jobs as jobs_mod
from bot.context import BotContext
from bot.handlers.replies import message_key
from bot.history.progress import history_answer, load_matplotlib
from bot.history.store import TakeStore
from bot.jobs import random_id_for
from bot.logsafe import describe_error
from bot.texts import t
from bot.vk import send

log = logging.getLogger("smask.bot")


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()
    store = TakeStore.from_env(ctx.settings.state_dir)
    load_matplotlib()  # before long poll starts, not beside the handlers
    from bot.rules import CommandRule

    @labeler.message(CommandRule("history", "история", "прогресс"))
    async def history(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        lang = prefs.lang
        tune_title = (prefs.tune or {}).get("title") if prefs.tune else None
        with tempfile.TemporaryDirectory(prefix="smask-history-") as tmp:
            chart = Path(tmp) / "progress.png"
            text, drawn = await asyncio.to_thread(
                history_answer, store, message.from_id, tune_title, lang, chart
            )
            attachment = await _upload(message, drawn) if drawn else ""
        params = {"reply_to": message.id} if message.id else {}
        await send(message.ctx_api, message.peer_id, text,  # type: ignore[arg-type]
                   random_id=random_id_for(message_key(message), "history"),
                   attachment=attachment, reply=params)  # fmt: skip

    @labeler.message(CommandRule("forget", "забыть"))
    async def forget(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        await asyncio.to_thread(jobs_mod.cancel_for_user, ctx.store, message.from_id)
        count = await asyncio.to_thread(store.forget, message.from_id)
        await asyncio.to_thread(ctx.prefs.delete, message.from_id)
        params = {"reply_to": message.id} if message.id else {}
        await send(message.ctx_api, message.peer_id,  # type: ignore[arg-type]
                   t("forget_done", prefs.lang, takes=count),
                   random_id=random_id_for(message_key(message), "forget"),
                   reply=params)  # fmt: skip

    return labeler


async def _upload(message: Message, chart: Path) -> str:
    """The progress picture uploaded as a photo, or "" (the sentence alone still helps)."""
    try:
        return str(await PhotoMessageUploader(message.ctx_api).upload(
            file_source=str(chart), peer_id=message.peer_id))  # fmt: skip
    except Exception as exc:
        log.warning("progress picture upload failed: %s", describe_error(exc))
        return ""
