"""/help, /status and /cancel: the learner asking about the service itself.

The settings commands live in bot/handlers/preferences.py, the tune commands in
bot/handlers/tunes.py: one labeler per group of commands, as vkbottle's examples keep them.
"""

from __future__ import annotations

import asyncio

from vkbottle import API
from vkbottle.bot import BotLabeler, Message

from bot import health
from bot import jobs as jobs_mod
from bot.context import BotContext
from bot.handlers.replies import reply, user_turn
from bot.rules import CommandRule
from bot.texts import t
from bot.vk import edit_ack


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
        # In the user's turn: a clip sent just before /cancel is queued and acknowledged first,
        # so it is cancelled too and its acknowledgement is among those edited below.
        async with user_turn(message.from_id):
            prefs = await ctx.prefs_of(message.from_id)
            cancelled, flagged = await asyncio.to_thread(
                jobs_mod.cancel_for_user, ctx.store, message.from_id
            )
            # Every queued clip's "in the queue, position N" now says it is cancelled; a
            # running clip's is edited by its worker, which stops at its next stage.
            api: API = message.ctx_api  # type: ignore[assignment]
            await asyncio.gather(*(edit_ack(api, j, t("cancelled_ack", j.lang)) for j in cancelled))
        count = len(cancelled) + len(flagged)
        text = t("cancel_done", prefs.lang, count=count) if count else t("cancel_none", prefs.lang)
        await reply(message, text, purpose="cancel")

    return labeler
