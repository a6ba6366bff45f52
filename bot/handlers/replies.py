"""Answering a user's message: with a stable random_id (so a redelivered event posts nothing
new), pointed at the message (a reply, or in a group chat a forward), and in the order the
user wrote."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from vkbottle.bot import Message

from bot.jobs import job_id_for, random_id_for
from bot.vk import reply_params, send_ids


class _Turn:
    """A user's lock and how many handlers hold or wait for it (the entry goes at zero)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


# One table of per-user locks per event loop: tests run many bots, each in its own loop, and
# an asyncio.Lock belongs to the loop it first waited in.
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Turn]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def user_turn(user_id: int) -> AsyncIterator[None]:
    """Run a user's handlers one at a time, in the order their messages arrived.

    vkbottle handles each event in its own task, and a handler's first thread hop (reading
    the settings, the job table) can come back in any order: unordered, the fourth clip of a
    burst could take the last free place before the third. Enter this before the handler's
    first ``await`` that suspends: tasks start in the order long poll delivered the events,
    and asyncio.Lock wakes its waiters first come, first served.
    """
    turns = _TURNS.setdefault(asyncio.get_running_loop(), {})
    turn = turns.get(user_id)
    if turn is None:
        turn = turns[user_id] = _Turn()
    turn.users += 1
    try:
        async with turn.lock:
            yield
    finally:
        turn.users -= 1
        if turn.users == 0 and turns.get(user_id) is turn:
            del turns[user_id]


def message_key(message: Message, part: int = 0) -> str:
    """The job id of the message's ``part``-th clip (0: the message itself)."""
    cmid = message.conversation_message_id or 0
    return job_id_for(message.peer_id, message.id or 0, cmid, part)


async def reply_ids(message: Message, text: str, *, purpose: str, key: str = "") -> tuple[int, int]:
    """Reply to ``message``; returns (message id, cmid) of the answer (see bot.vk.send_ids).

    ``purpose`` names this answer among the others to the same message, ``key`` the job it
    speaks for when the message holds several clips (the message itself by default).
    """
    return await send_ids(
        message.ctx_api,  # type: ignore[arg-type]
        message.peer_id,
        text,
        random_id=random_id_for(key or message_key(message), purpose),
        reply=reply_params(message.peer_id, message.id or 0, message.conversation_message_id or 0),
    )


async def reply(message: Message, text: str, *, purpose: str) -> int:
    """Reply to ``message``; ``purpose`` names this answer among the others to the same message."""
    message_id, cmid = await reply_ids(message, text, purpose=purpose)
    return message_id or cmid
