"""Checks every message passes before any handler runs.

* ``DedupMiddleware``: long poll may deliver the same event again after a reconnect
  (vkbottle #1045); a (peer_id, message id) seen recently is dropped. This is the fast path:
  the job table's idempotent submit and stable random_ids cover redelivery after a restart.
* ``SourceMiddleware``: drops our own outgoing messages, other communities' bots and events
  addressed to another community.
* ``AddressMiddleware``: in a group chat the bot acts only when addressed (a mention, a reply
  to one of its messages, a command); other chat talk, files and voice messages included, is
  dropped here, before anything is answered or downloaded. The mention itself is taken out of
  the text, so "@smask /help" is the command /help.
* ``UserRateMiddleware``: a user sending messages faster than ``per_minute`` is ignored for a
  while instead of making the bot spam answers.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from typing import Any

from vkbottle import BaseMiddleware
from vkbottle.bot import Message

from bot.jobs import job_id_for
from bot.logsafe import describe_error
from bot.rules import addressed_how, mention_pattern

log = logging.getLogger("smask.bot")


class _Seen:
    """A bounded set of recently seen keys (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> bool:
        """True when ``key`` is new."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True


def make_middlewares(
    group_id: int, *, per_minute: int = 30, seen_capacity: int = 10_000
) -> list[type[BaseMiddleware[Message]]]:
    """Middleware classes bound to this bot's state (vkbottle instantiates one per event)."""
    seen = _Seen(seen_capacity)
    recent: dict[int, deque[float]] = {}

    class SourceMiddleware(BaseMiddleware[Message]):
        async def pre(self) -> None:
            msg = self.event
            if getattr(msg, "out", 0):
                self.stop("outgoing message")
            if msg.from_id is not None and msg.from_id < 0:
                self.stop("message from a community")
            event_group = getattr(msg, "group_id", None)
            if event_group and abs(int(event_group)) != group_id:
                self.stop("event for another community")

    screen_names: dict[str, str] = {}  # "name": the community's screen name, once asked

    async def screen_name(api: Any) -> str:
        """The community's @name, asked of VK once (only when a chat message has an "@")."""
        if "name" not in screen_names:
            try:
                response = await api.request("groups.getById", {"group_id": group_id})
                found = response["response"]
                groups = found.get("groups", []) if isinstance(found, dict) else found
                screen_names["name"] = str(groups[0].get("screen_name") or "") if groups else ""
            except Exception as exc:  # unknown for now: only [club<G>|...] mentions count
                log.warning("could not learn the community's screen name: %s", describe_error(exc))
                return ""
        return screen_names["name"]

    class AddressMiddleware(BaseMiddleware[Message]):
        async def pre(self) -> None:
            msg = self.event
            name = ""
            how = addressed_how(msg, group_id)
            if not how and "@" in (msg.text or ""):  # perhaps "@screen_name" typed out
                name = await screen_name(msg.ctx_api)
                how = addressed_how(msg, group_id, name)
            if not how:
                self.stop("group-chat message not addressed to the bot")
            if how == "mention":
                msg.text = mention_pattern(group_id, name).sub(" ", msg.text or "").strip()
            self.send({"addressed": how})

    class DedupMiddleware(BaseMiddleware[Message]):
        async def pre(self) -> None:
            msg = self.event
            key = job_id_for(msg.peer_id, msg.id or 0, msg.conversation_message_id or 0)
            if not seen.add(key):
                self.stop(f"duplicate delivery of {key}")

    class UserRateMiddleware(BaseMiddleware[Message]):
        async def pre(self) -> None:
            now = time.monotonic()
            if len(recent) > seen_capacity:
                # Forget users silent for a minute, so the table stays as large as the
                # current traffic rather than every user ever seen.
                for user in [u for u, w in recent.items() if not w or w[-1] < now - 60.0]:
                    del recent[user]
            window = recent.setdefault(self.event.from_id, deque())
            while window and window[0] < now - 60.0:
                window.popleft()
            if len(window) >= per_minute:
                self.stop("user over the message rate")
            window.append(now)

    classes: list[Any] = [SourceMiddleware, AddressMiddleware, DedupMiddleware, UserRateMiddleware]
    return classes
