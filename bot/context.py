"""The handles a running bot shares with its handlers (built once, passed explicitly)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.jobs import JobStore, SubmitLimits, make_store
from bot.prefs import PrefsStore, UserPrefs, make_prefs_store
from bot.queue import JobQueue, make_huey
from bot.settings import Settings


@dataclass
class BotContext:
    settings: Settings
    store: JobStore
    prefs: PrefsStore
    queue: JobQueue
    limits: SubmitLimits

    @classmethod
    def build(cls, settings: Settings, *, queue: JobQueue | None = None) -> BotContext:
        return cls(
            settings=settings,
            store=make_store(settings),
            prefs=make_prefs_store(settings),
            queue=queue or JobQueue(make_huey(settings)),
            limits=SubmitLimits.from_settings(settings),
        )

    async def prefs_of(self, user_id: int) -> UserPrefs:
        """A learner's settings, read off the event loop (the store is a file or Redis)."""
        return await asyncio.to_thread(self.prefs.get, user_id)
