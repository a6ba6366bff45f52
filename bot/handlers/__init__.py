"""One labeler per concern; ``make_labelers`` returns them in the order they must match.

Labelers are built by factories (not at import) because they close over the bot's context.
"""

from __future__ import annotations

from vkbottle.bot import BotLabeler

from bot.context import BotContext
from bot.handlers import clips, fallback, history, preferences, service, tunes


def make_labelers(ctx: BotContext) -> list[BotLabeler]:
    return [
        service.make_labeler(ctx),
        history.make_labeler(ctx),
        preferences.make_labeler(ctx),
        tunes.make_labeler(ctx),
        clips.make_labeler(ctx),
        fallback.make_labeler(ctx),
    ]
