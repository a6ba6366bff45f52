"""Anything else in a private chat gets the short help (chat talk in groups is ignored)."""

from __future__ import annotations

import asyncio

from vkbottle.bot import BotLabeler, Message

from bot.context import BotContext
from bot.handlers.replies import reply
from bot.rules import PrivateChatRule
from bot.texts import t


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message(PrivateChatRule())
    async def anything_else(message: Message) -> None:
        prefs = await asyncio.to_thread(ctx.prefs.get, message.from_id)
        await reply(message, t("help", prefs.lang), purpose="help")

    return labeler
