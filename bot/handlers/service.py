"""/help, /status and /cancel: the learner asking about the service itself.

The settings commands live in bot/handlers/preferences.py, the tune commands in
bot/handlers/tunes.py: one labeler per group of commands, as vkbottle's examples keep them.
"""

from __future__ import annotations

import asyncio

from vkbottle.bot import BotLabeler, Message

from bot import health
from bot import jobs as jobs_mod
from bot.context import BotContext
from bot.handlers.replies import reply
from bot.rules import CommandRule
from bot.texts import t


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message(CommandRule("help", "start", "помощь", "начать", "справка"))
    async def help_(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        await reply(message, t("help", prefs.lang), purpose="help")

    @labeler.message(CommandRule("status", "статус"))
    async def status(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        jobs = await asyncio.to_thread(ctx.store.for_user, message.from_id)
        lines = [t("status_none", prefs.lang)] if not jobs else [t("status_header", prefs.lang)]
        for job in jobs:
            if job.state == "running":
                lines.append(t("status_running", prefs.lang, title=job.doc_title))
            else:
                position = await asyncio.to_thread(ctx.store.position, job)
                lines.append(t("status_queued", prefs.lang, title=job.doc_title, position=position))
        service = await asyncio.to_thread(health.check, ctx.store)
        queued = service.queued + service.running
        notes = [t("status_queue", prefs.lang, queued=queued)] if queued else []
        if not service.workers_alive:
            notes.append(t("status_paused", prefs.lang))
        if notes:
            lines += ["", *notes]
        await reply(message, "\n".join(lines), purpose="status")

    @labeler.message(CommandRule("cancel", "отмена", "отменить"))
    async def cancel(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        cancelled, flagged = await asyncio.to_thread(
            jobs_mod.cancel_for_user, ctx.store, message.from_id
        )
        count = len(cancelled) + len(flagged)
        text = t("cancel_done", prefs.lang, count=count) if count else t("cancel_none", prefs.lang)
        await reply(message, text, purpose="cancel")

    return labeler
