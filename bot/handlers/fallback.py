"""Anything else in a private chat gets the short help; in a group chat only a message that
names the community does (chat talk, and replies to the bot's answers, are left alone)."""

from __future__ import annotations

from vkbottle.bot import BotLabeler, Message

from bot.context import BotContext
from bot.handlers.replies import reply
from bot.rules import PrivateOrMentionedRule
from bot.texts import t


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message(PrivateOrMentionedRule())
    async def anything_else(message: Message) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        await reply(message, t("help", prefs.lang), purpose="help")

    return labeler
