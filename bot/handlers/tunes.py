"""The learner's tune: /tune, /tunes, /fixwrong, and a MIDI or MusicXML file sent as a doc.

The tune is kept in the user's settings (``UserPrefs.tune``, a ``Score.to_dict()``) and travels
with every clip they send until they change it, so the worker checks each take against it.

A doc is a score or a clip by its bytes. Scores are small, so a doc of at most
``SCORE_MAX_BYTES`` is fetched here (same host allowlist and streaming cap as clips) and
sniffed, unless it is named as audio or video (then it is a clip, fetched once, by the
worker); anything that is not a score goes on to the clip handler untouched. The file is read
into memory and deleted before the answer, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import weakref
from dataclasses import replace
from typing import Any

from vkbottle.bot import BotLabeler, Message

from bot.context import BotContext
from bot.download import DownloadError, download
from bot.handlers.replies import message_key, reply
from bot.prefs import UserPrefs
from bot.rules import CommandRule
from bot.texts import error_key, t
from bot.workdir import score_doc_path

log = logging.getLogger("smask.bot")

SCORE_MAX_BYTES = 1 * 2**20  # MIDI and MusicXML of a tune a learner plays are a few KB
SCORE_TIMEOUT_S = 20.0  # a megabyte at most: a slow fetch is not worth holding the answer for
# A doc named as audio or video goes straight to the clip path: its name never makes it a
# score, it only spares a small clip a second download (the worker fetches it anyway).
MEDIA_EXTENSIONS = frozenset(
    {"mp4", "mov", "m4v", "m4a", "3gp", "webm", "mkv", "avi", "mpg", "mpeg", "wmv", "flv"}
    | {"mp3", "wav", "ogg", "oga", "opus", "aac", "flac", "amr"}
)
OFF_WORDS = frozenset({"off", "none", "no", "stop", "выкл", "нет", "сброс", "забыть", "стоп"})
ON_WORDS = frozenset({"on", "yes", "вкл", "да"})


def tune_line(prefs: UserPrefs) -> str:
    """The user's current tune in one line, or the word for none."""
    if prefs.tune is None:
        return t("tune_not_set", prefs.lang)
    from core.errors import ScoreError
    from core.score.model import Score

    try:
        from core.score.describe import describe_score

        return describe_score(Score.from_dict(prefs.tune), prefs.lang)
    except ScoreError:
        return t("tune_not_set", prefs.lang)


def songbook_text(lang: str) -> str:
    from core.score.load import songbook

    entries = songbook()
    songs = [f"• {e.title(lang)} — /tune {e.id}" for e in entries if e.kind == "song"]
    return "\n".join([t("tunes_header", lang), *songs, "", t("tunes_exercises", lang)])


async def _save_tune(
    message: Message, ctx: BotContext, prefs: UserPrefs, score: Any, *, extra: str = ""
) -> None:
    updated = replace(prefs, tune=score.to_dict())
    await asyncio.to_thread(ctx.prefs.put, message.from_id, updated)
    from core.score.describe import describe_score

    text = t("tune_set", prefs.lang, tune=describe_score(score, prefs.lang))
    if extra:
        text += "\n" + extra
    if prefs.fix_wrong_notes:
        text += "\n" + t("fixwrong_is_on", prefs.lang)
    await reply(message, text, purpose="tune")


async def take_score_doc(
    ctx: BotContext,
    message: Message,
    doc: Any,
    prefs: UserPrefs,
    *,
    said_tune: bool = False,
    track: int | None = None,
) -> bool:
    """Set the user's tune from a doc that is a score; False when the doc is something else.

    Called by the clip handler after its host check, and by ``/tune`` written on a doc
    (``said_tune``: then even a doc named as video is looked at). A doc over SCORE_MAX_BYTES,
    or one whose download fails, is left to the clip path (the worker fetches it again and
    says what is wrong); a score that cannot be used is answered here with its own message.
    """
    size = int(getattr(doc, "size", 0) or 0)
    if not 0 < size <= SCORE_MAX_BYTES or (_named_as_media(doc) and not said_tune):
        return False
    settings = ctx.settings
    key = message_key(message)
    path = score_doc_path(settings.work_dir, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await download(
                str(doc.url or ""),
                path,
                allowed_hosts=settings.allowed_hosts,
                max_bytes=SCORE_MAX_BYTES,
                timeout_s=min(SCORE_TIMEOUT_S, settings.download_timeout_s),
                declared_size=size,
            )
        except DownloadError as exc:
            log.info("message %s: small doc not fetched (%s); left to the clip path", key, exc.code)
            return False
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        # Our disk, not their file: the operator reads why, the learner that it is on us.
        log.error(
            "message %s: work dir %s cannot hold a doc: %s (%s)",
            key,
            path.parent,
            os_failure(exc),
            exc,
        )
        await reply(message, t("error_processing_failed", prefs.lang), purpose="failed")
        return True
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    from core.score.files import is_score

    if not is_score(data):
        return False
    await _answer_score_bytes(ctx, message, prefs, data, str(doc.title or "score"), track)
    return True


def os_failure(exc: OSError) -> str:
    """An OSError in the words an operator searches a log for."""
    return _OS_FAILURES.get(exc.errno or 0, (exc.strerror or type(exc).__name__).lower())


_OS_FAILURES = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}
_READ_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def read_in_child(data: bytes, name: str, track: int | None) -> Any:
    """Read a score doc in core.score.guard's child, never in the bot process.

    Callers queue here, on the event loop, for one of the pool's children, so docs sent in
    a flood wait without holding any of the threads every other learner's answer needs.
    """
    from core.score.guard import reader_pool

    pool = reader_pool()
    loop = asyncio.get_running_loop()
    gate = _READ_GATES.get(loop)
    if gate is None:
        gate = _READ_GATES[loop] = asyncio.Semaphore(pool.size)
    async with gate:
        return await asyncio.to_thread(pool.read, data, name, track=track)


def _named_as_media(doc: Any) -> bool:
    title = str(getattr(doc, "title", "") or "")
    ext = str(getattr(doc, "ext", "") or "") or (title.rsplit(".", 1)[-1] if "." in title else "")
    return ext.lower() in MEDIA_EXTENSIONS


async def _answer_score_bytes(
    ctx: BotContext,
    message: Message,
    prefs: UserPrefs,
    data: bytes,
    name: str,
    track: int | None,
) -> None:
    from core.errors import ScoreError

    lang = prefs.lang
    try:
        found = await read_in_child(data, name, track)
    except ScoreError as exc:
        log.info("message %s: score refused: %s (%s)", message_key(message), exc.code, exc.detail)
        await reply(message, t(error_key(exc.code), lang), purpose="refused")
        return
    except ValueError:  # "/tune 5" on a file with fewer voices
        await reply(message, t("tune_no_such_track", lang, track=track), purpose="refused")
        return
    log.info("message %s: tune set from a %d-byte score", message_key(message), len(data))
    extra = ""
    if len(found.voices) > 1:
        quoted = re.search(r"“(.+)”", found.voices[found.chosen - 1])
        name = "" if quoted is None else (f" «{quoted[1]}»" if lang == "ru" else f" “{quoted[1]}”")
        extra = t("tune_track_taken", lang, track=found.chosen, count=len(found.voices), name=name)
    await _save_tune(message, ctx, prefs, found.score, extra=extra)


def make_labeler(ctx: BotContext) -> BotLabeler:
    from core.score.guard import reader_pool

    reader_pool().warm_up()  # the reader imports music21 now, not when a learner waits
    labeler = BotLabeler()

    async def prefs_of(message: Message) -> UserPrefs:
        return await asyncio.to_thread(ctx.prefs.get, message.from_id)

    @labeler.message(CommandRule("tune", "мелодия", "песня"))
    async def tune(message: Message, args: str) -> None:
        prefs = await prefs_of(message)
        lang = prefs.lang
        docs: list[Any] = [
            a.doc for a in message.attachments or [] if getattr(a, "doc", None) is not None
        ]
        if docs:  # "/tune" written on a score file: the file is the tune
            from bot.download import host_allowed

            doc = docs[0]
            if not host_allowed(str(doc.url or ""), ctx.settings.allowed_hosts):
                await reply(message, t("host_not_allowed", lang), purpose="refused")
                return
            size = int(doc.size or 0)
            if size > SCORE_MAX_BYTES:
                facts = {"size_mb": round(size / 2**20, 1), "max_mb": SCORE_MAX_BYTES / 2**20}
                await reply(message, t("declared_too_large", lang, **facts), purpose="refused")
                return
            words = args.strip()
            track = int(words) if words.isdigit() and 0 < int(words) < 1000 else None
            if words and track is None:
                await reply(message, t("tune_doc_track_hint", lang), purpose="invalid")
                return
            if not await take_score_doc(ctx, message, doc, prefs, said_tune=True, track=track):
                await reply(message, t("error_score_unreadable", lang), purpose="refused")
            return
        words = args.strip()
        if not words:
            if prefs.tune is None:
                await reply(message, t("tune_none", lang), purpose="tune")
            else:
                await reply(message, t("tune_show", lang, tune=tune_line(prefs)), purpose="tune")
            return
        if words.lower() in OFF_WORDS:
            await asyncio.to_thread(ctx.prefs.put, message.from_id, replace(prefs, tune=None))
            await reply(message, t("tune_off", lang), purpose="tune")
            return
        from core.errors import ScoreError
        from core.score.load import parse_tune_text

        try:
            score = await asyncio.to_thread(parse_tune_text, words)
        except ScoreError as exc:
            text = t(error_key(exc.code), lang)
            await reply(message, text, purpose="invalid")
            return
        await _save_tune(message, ctx, prefs, score)

    @labeler.message(CommandRule("tunes", "песни", "мелодии", "сборник"))
    async def tunes(message: Message, args: str) -> None:
        prefs = await prefs_of(message)
        await reply(message, songbook_text(prefs.lang), purpose="tunes")

    @labeler.message(CommandRule("fixwrong", "ошибки"))
    async def fixwrong(message: Message, args: str) -> None:
        prefs = await prefs_of(message)
        lang = prefs.lang
        word = args.strip().lower()
        if word not in ON_WORDS | OFF_WORDS:
            await reply(message, t("fixwrong_invalid", lang), purpose="invalid")
            return
        on = word in ON_WORDS
        await asyncio.to_thread(ctx.prefs.put, message.from_id, replace(prefs, fix_wrong_notes=on))
        text = t("fixwrong_on" if on else "fixwrong_off", lang)
        if on and prefs.tune is None:
            text += "\n" + t("fixwrong_needs_tune", lang)
        await reply(message, text, purpose="saved")

    return labeler
