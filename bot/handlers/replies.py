"""Answering a user's message with a stable random_id (so a redelivered event posts nothing new)."""

from __future__ import annotations

from vkbottle.bot import Message

from bot.jobs import job_id_for, random_id_for
from bot.vk import send


def message_key(message: Message) -> str:
    return job_id_for(message.peer_id, message.id or 0, message.conversation_message_id or 0)


async def reply(message: Message, text: str, *, purpose: str) -> int:
    """Reply to ``message``; ``purpose`` names this answer among the others to the same message."""
    params = {"reply_to": message.id} if message.id else {}
    return await send(
        message.ctx_api,  # type: ignore[arg-type]
        message.peer_id,
        text,
        random_id=random_id_for(message_key(message), purpose),
        reply=params,
    )
