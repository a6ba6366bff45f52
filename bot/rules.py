"""Rules that recognise what a message carries and hand it to the handler as a keyword."""

from __future__ import annotations

import re
from typing import Any

from vkbottle.bot import Message
from vkbottle.dispatch.rules import ABCRule

CHAT_PEER_MIN = 2_000_000_000  # peer ids of group chats start here
# "[club77|@smask], /help": how a community is addressed in a group chat.
_MENTION = re.compile(r"^\[club\d+\|[^\]]*\][,:]?\s*")


def _attachments(message: Message, kind: str) -> list[Any]:
    found = []
    for att in message.attachments or []:
        att_type = getattr(att.type, "value", att.type)
        if att_type == kind and getattr(att, kind, None) is not None:
            found.append(getattr(att, kind))
    return found


class DocAttachmentRule(ABCRule[Message]):
    """A message with a file (``doc``): injects ``doc``. The bytes decide whether it is a clip."""

    async def check(self, event: Message) -> dict[str, Any] | bool:
        docs = _attachments(event, "doc")
        return {"doc": docs[0]} if docs else False


class AudioMessageAttachmentRule(ABCRule[Message]):
    """A voice message (the microphone button): injects ``audio_message``."""

    async def check(self, event: Message) -> dict[str, Any] | bool:
        voices = _attachments(event, "audio_message")
        return {"audio_message": voices[0]} if voices else False


class VideoAttachmentRule(ABCRule[Message]):
    """A clip sent as a VK *video*, which a community token cannot download."""

    async def check(self, event: Message) -> bool:
        return bool(_attachments(event, "video"))


class CommandRule(ABCRule[Message]):
    """``/name args`` (also ``!name`` or a bare name); injects ``args`` (the rest, stripped)."""

    def __init__(self, *names: str) -> None:
        self.names = tuple(n.lower() for n in names)

    async def check(self, event: Message) -> dict[str, Any] | bool:
        text = _MENTION.sub("", (event.text or "").strip()).strip()
        if not text:
            return False
        head, _, rest = text.partition(" ")
        head = head.lower().lstrip("/!")
        if "@" in head:  # "/help@club123" in group chats
            head = head.split("@", 1)[0]
        if head in self.names:
            return {"args": rest.strip()}
        return False


class PrivateChatRule(ABCRule[Message]):
    """A one-to-one conversation (the bot stays quiet about ordinary chat talk)."""

    async def check(self, event: Message) -> bool:
        return event.peer_id < CHAT_PEER_MIN
