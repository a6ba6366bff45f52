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


class ClipAttachmentsRule(ABCRule[Message]):
    """A message with clips: every file and voice message, in the order they were attached.

    Injects ``clips`` as (kind, attachment) pairs, kind "doc" or "audio_message", and
    ``videos``, how many VK videos came beside them (those cannot be fetched).
    """

    async def check(self, event: Message) -> dict[str, Any] | bool:
        clips: list[tuple[str, Any]] = []
        videos = 0
        for att in event.attachments or []:
            att_type = getattr(att.type, "value", att.type)
            if att_type in ("doc", "audio_message") and getattr(att, att_type, None) is not None:
                clips.append((att_type, getattr(att, att_type)))
            elif att_type == "video" and getattr(att, "video", None) is not None:
                videos += 1
        return {"clips": clips, "videos": videos} if clips else False


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


class PrivateOrMentionedRule(ABCRule[Message]):
    """A one-to-one conversation, or a group-chat message that names the community.

    ``addressed`` is what bot.middlewares' address check found (see ``addressed_how``).
    """

    async def check(self, event: Message, addressed: str = "") -> bool:
        return event.peer_id < CHAT_PEER_MIN or addressed == "mention"


# --- is the community addressed in a group chat? -------------------------------------------


def mention_pattern(group_id: int, screen_name: str = "") -> re.Pattern[str]:
    """``[club<G>|any text]`` (VK's form of a picked mention) or ``@screen_name`` typed out."""
    forms = [rf"\[club{group_id}\|[^\]]*\]"]
    if screen_name:
        forms.append(rf"@{re.escape(screen_name)}\b")
    return re.compile(rf"(?:{'|'.join(forms)})[,:]?\s*", re.IGNORECASE)


def addressed_how(message: Message, group_id: int, screen_name: str = "") -> str:
    """Why the bot should act on ``message``: "private", "mention", "reply", "command", or ""
    for group-chat talk that is not for it (then it stays silent and downloads nothing).

    In a chat (peer_id > 2e9) the community is addressed by a mention, by a reply to one of
    its messages (``reply_message`` from -G), or by a command (``/name``, ``!name``).
    """
    if message.peer_id < CHAT_PEER_MIN:
        return "private"
    text = message.text or ""
    if mention_pattern(group_id, screen_name).search(text):
        return "mention"
    replied = getattr(message, "reply_message", None)
    if replied is not None and getattr(replied, "from_id", 0) == -group_id:
        return "reply"
    if text.lstrip()[:1] in ("/", "!") and len(text.strip()) > 1:
        return "command"
    return ""
