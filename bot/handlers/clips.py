"""Clips, audio files and voice messages arrive: check what can be checked without
downloading, record one job per clip, answer each.

The answer ("queued, position N") must come fast (bench/bot_ack.py keeps p95 under 100 ms),
so nothing here downloads or probes a clip: the worker does, judging the container by its
bytes. Only a doc small enough to be a score (bot.handlers.tunes.SCORE_MAX_BYTES) and not
named as audio or video is fetched here and sniffed; a MIDI or MusicXML becomes the user's
tune instead of a job.

A user's messages are taken one at a time in the order they were sent (``user_turn``), and a
message with several clips makes one job per clip in attachment order, until a limit says
no; the clips left out are then named in one message, so none vanishes without a word.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from vkbottle.bot import BotLabeler, Message

from bot import jobs as jobs_mod
from bot.context import BotContext
from bot.download import host_allowed
from bot.handlers import tunes
from bot.handlers.replies import message_key, reply, reply_ids, user_turn
from bot.jobs import Job
from bot.prefs import UserPrefs
from bot.rules import ClipAttachmentsRule, VideoAttachmentRule
from bot.texts import t
from bot.vk import edit

log = logging.getLogger("smask.bot")

LIMIT_FACTS = {
    "user_waiting": "max_waiting_per_user",
    "user_hourly": "max_clips_per_hour",
    "queue_full": "max_queue_length",
}


@dataclass
class _Intake:
    """One message's clips on their way into the queue, and the ones left out (with why)."""

    ctx: BotContext
    message: Message
    prefs: UserPrefs
    several: bool  # more than one clip (or a clip beside a VK video): name each clip
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (title, reason)

    async def refuse(self, title: str, text: str) -> None:
        """A one-clip message is answered with the reason itself; several get one summary."""
        if self.several:
            self.left_out.append((title, text))
        else:
            await reply(self.message, text, purpose="refused")

    async def voice(self, part: int, audio_message: Any) -> None:
        settings, lang = self.ctx.settings, self.prefs.lang
        # OGG/Opus first (VK's own recording), the MP3 transcode if that download fails.
        links = [str(u) for u in (audio_message.link_ogg, audio_message.link_mp3) if u]
        title = t("voice_title", lang)
        if not links or not all(host_allowed(u, settings.allowed_hosts) for u in links):
            log.warning("message %s: voice message host not allowed, refused", self.key(part))
            await self.refuse(title, t("host_not_allowed", lang))
            return
        job = self.job(part, url=links[0], title="voice.ogg", size=0)
        job.kind = "voice"
        job.fallback_url = links[1] if len(links) > 1 else ""
        await self.submit(job, title)

    async def doc(self, part: int, doc: Any) -> None:
        settings, lang = self.ctx.settings, self.prefs.lang
        url, size, title = str(doc.url or ""), int(doc.size or 0), str(doc.title or "")
        key = self.key(part)
        if not host_allowed(url, settings.allowed_hosts):
            log.warning("message %s: doc host not allowed, refused", key)
            await self.refuse(title, t("host_not_allowed", lang))
            return
        if size > settings.max_download_bytes:
            log.info("message %s: declared size %d bytes over the cap, refused", key, size)
            facts = {
                "size_mb": round(size / 2**20, 1),
                "max_mb": round(settings.max_download_bytes / 2**20, 1),
            }
            await self.refuse(title, t("declared_too_large", lang, **facts))
            return
        if await tunes.take_score_doc(self.ctx, self.message, doc, self.prefs):  # the tune
            return
        await self.submit(self.job(part, url=url, title=title, size=size), title)

    async def submit(self, job: Job, title: str) -> None:
        """Record the job (atomically with the limits), answer "queued", ring the queue."""
        ctx, key, lang = self.ctx, job.job_id, job.lang
        result = await asyncio.to_thread(ctx.store.submit, job, ctx.limits)
        if result.refused:
            limit = getattr(ctx.settings, LIMIT_FACTS[result.refused])
            log.info("message %s refused: %s", key, result.refused)
            await self.refuse(title, t(f"limit_{result.refused}", lang, limit=limit))
            return
        if result.job is None:
            return
        if not result.created and (result.job.reply_message_id or result.job.reply_cmid):
            log.info("message %s is already job %s; not answering again", key, result.job.state)
            return
        # Answer first, then ring the queue: the worker then always finds our message to edit.
        # A crash between the two leaves a queued job that the sweeper enqueues later.
        try:
            text = self.ack_text(job, title, result.position)
            ack_id, ack_cmid = await reply_ids(self.message, text, purpose="ack", key=key)
            now = await asyncio.to_thread(
                jobs_mod.set_reply_message, ctx.store, key, ack_id, ack_cmid
            )
            if now is not None and now.state == "cancelled":  # /cancel came first: say so
                await edit(
                    self.message.ctx_api,  # type: ignore[arg-type]
                    job.peer_id,
                    ack_id,
                    t("cancelled_ack", lang),
                    cmid=ack_cmid,
                )
        finally:  # even when VK refused the acknowledgement, the clip itself gets answered
            await asyncio.to_thread(ctx.queue.enqueue, key)
        log.info("job %s (%s) queued at position %d", key, job.kind, result.position)

    def ack_text(self, job: Job, title: str, position: int) -> str:
        lang = self.prefs.lang
        if self.several:
            return t("queued_part", lang, title=title, position=position)
        queued_key = "queued_voice" if job.kind == "voice" else "queued"
        return t(queued_key, lang, position=position)

    async def tell_left_out(self) -> None:
        if not self.left_out:
            return
        lang = self.prefs.lang
        lines = [t("clip_left_out_line", lang, title=n, reason=r) for n, r in self.left_out]
        text = t("clips_left_out", lang, clips="\n".join(lines))
        await reply(self.message, text, purpose="left_out")

    def key(self, part: int) -> str:
        return message_key(self.message, part)

    def job(self, part: int, *, url: str, title: str, size: int) -> Job:
        message, prefs = self.message, self.prefs
        return Job(
            job_id=self.key(part),
            peer_id=message.peer_id,
            from_id=message.from_id,
            message_id=message.id or 0,
            cmid=message.conversation_message_id or 0,
            doc_url=url,
            doc_title=title or "clip",
            doc_size=size,
            options=prefs.to_options(),
            lang=prefs.lang,
        )


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()

    @labeler.message(ClipAttachmentsRule())
    async def clips(message: Message, clips: list[tuple[str, Any]], videos: int) -> None:
        async with user_turn(message.from_id):  # before the first await: arrival order
            prefs = await ctx.prefs_of(message.from_id)
            intake = _Intake(ctx, message, prefs, several=len(clips) + videos > 1)
            for part, (kind, item) in enumerate(clips):
                if kind == "audio_message":
                    await intake.voice(part, item)
                else:
                    await intake.doc(part, item)
            for _ in range(videos):  # a VK video beside files: it cannot be fetched
                intake.left_out.append((t("video_title", prefs.lang), t("video_hint", prefs.lang)))
            await intake.tell_left_out()

    @labeler.message(VideoAttachmentRule())
    async def video_hint(message: Message) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        await reply(message, t("video_hint", prefs.lang), purpose="video_hint")

    return labeler
