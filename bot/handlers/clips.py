"""A clip, an audio file or a voice message arrives: check what can be checked without
downloading, record the job, answer.

The answer ("queued, position N") must come fast (bench/bot_ack.py keeps p95 under 300 ms),
so nothing here downloads or probes a clip: the worker does, judging the container by its
bytes. Only a doc small enough to be a score (bot.handlers.tunes.SCORE_MAX_BYTES) and not
named as audio or video is fetched here and sniffed; a MIDI or MusicXML becomes the user's
tune instead of a job.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from vkbottle.bot import BotLabeler, Message

from bot import jobs as jobs_mod
from bot.context import BotContext
from bot.download import host_allowed
from bot.handlers import tunes
from bot.handlers.replies import message_key, reply
from bot.jobs import Job
from bot.prefs import UserPrefs
from bot.rules import AudioMessageAttachmentRule, DocAttachmentRule, VideoAttachmentRule
from bot.texts import t

log = logging.getLogger("smask.bot")

LIMIT_FACTS = {
    "user_waiting": "max_waiting_per_user",
    "user_hourly": "max_clips_per_hour",
    "queue_full": "max_queue_length",
}


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()
    settings = ctx.settings

    @labeler.message(VideoAttachmentRule())
    async def video_hint(message: Message) -> None:
        prefs = await asyncio.to_thread(ctx.prefs.get, message.from_id)
        await reply(message, t("video_hint", prefs.lang), purpose="video_hint")

    @labeler.message(AudioMessageAttachmentRule())
    async def voice(message: Message, audio_message: Any) -> None:
        prefs = await asyncio.to_thread(ctx.prefs.get, message.from_id)
        key = message_key(message)
        # OGG/Opus first (VK's own recording), the MP3 transcode if that download fails.
        links = [str(u) for u in (audio_message.link_ogg, audio_message.link_mp3) if u]
        if not links or not all(host_allowed(u, settings.allowed_hosts) for u in links):
            log.warning("message %s: voice message host not allowed, refused", key)
            await reply(message, t("host_not_allowed", prefs.lang), purpose="refused")
            return
        job = _job(message, prefs, url=links[0], title="voice.ogg", size=0)
        job.kind = "voice"
        job.fallback_url = links[1] if len(links) > 1 else ""
        await _submit(message, job)

    @labeler.message(DocAttachmentRule())
    async def clip(message: Message, doc: Any) -> None:
        prefs = await asyncio.to_thread(ctx.prefs.get, message.from_id)
        lang = prefs.lang
        url = str(doc.url or "")
        size = int(doc.size or 0)
        key = message_key(message)
        if not host_allowed(url, settings.allowed_hosts):
            log.warning("message %s: doc host not allowed, refused", key)
            await reply(message, t("host_not_allowed", lang), purpose="refused")
            return
        if size > settings.max_download_bytes:
            log.info("message %s: declared size %d bytes over the cap, refused", key, size)
            facts = {
                "size_mb": round(size / 2**20, 1),
                "max_mb": round(settings.max_download_bytes / 2**20, 1),
            }
            await reply(message, t("declared_too_large", lang, **facts), purpose="refused")
            return
        if await tunes.take_score_doc(ctx, message, doc, prefs):  # a MIDI/MusicXML: the tune
            return
        await _submit(message, _job(message, prefs, url=url, title=str(doc.title or ""), size=size))

    async def _submit(message: Message, job: Job) -> None:
        """Record the job (atomically with the limits), answer "queued", ring the queue."""
        key, lang = job.job_id, job.lang
        result = await asyncio.to_thread(ctx.store.submit, job, ctx.limits)
        if result.refused:
            limit = getattr(settings, LIMIT_FACTS[result.refused])
            log.info("message %s refused: %s", key, result.refused)
            await reply(message, t(f"limit_{result.refused}", lang, limit=limit), purpose="refused")
            return
        if result.job is None:
            return
        if not result.created and result.job.reply_message_id:
            log.info("message %s is already job %s; not answering again", key, result.job.state)
            return
        # Answer first, then ring the queue: the worker then always finds our message to edit.
        # A crash between the two leaves a queued job that the sweeper enqueues later.
        try:
            queued_key = "queued_voice" if job.kind == "voice" else "queued"
            text = t(queued_key, lang, position=result.position)
            ack_id = await reply(message, text, purpose="ack")
            await asyncio.to_thread(jobs_mod.set_reply_message, ctx.store, key, ack_id)
        finally:  # even when VK refused the acknowledgement, the clip itself gets answered
            await asyncio.to_thread(ctx.queue.enqueue, key)
        log.info("job %s (%s) queued at position %d", key, job.kind, result.position)

    return labeler


def _job(message: Message, prefs: UserPrefs, *, url: str, title: str, size: int) -> Job:
    return Job(
        job_id=message_key(message),
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
