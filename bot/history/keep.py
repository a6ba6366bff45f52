"""The worker's two calls into the history: the reply's link line, then the take itself.

The link is made first (a take id reserved for the job, ~1 ms) so the reply carries it;
the take is stored after the reply is sent. Its audio is written by the job from the audio
it holds (core.media.listening), both while the reply is drawn and uploaded: a separate
encode after the job cost ~12% of a 60 s job's time (bench/web.py). Until the take
is stored, or if keeping fails, the link shows "not found". Keeping a take is a bonus to the
answer, never a condition of it: any failure here is logged and the learner still has their
result.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from bot.history.links import take_url
from bot.history.store import TakeStore, new_take_id
from bot.history.take import take_record
from bot.logsafe import describe_error
from bot.texts import t
from core.media.listening import ListeningCopies

log = logging.getLogger("smask.history")


def take_link_line(store: TakeStore, job: Any) -> str:
    """Blocking: the reply's line linking the take this job will keep, or "" (no link:
    history off, no SMASK_PUBLIC_URL, or the learner said /forget after submitting).

    ``job`` is a ``bot.jobs.Job``: its ``from_id`` owns the take."""
    if not (store.config.enabled and store.config.public_url):
        return ""
    try:
        take_id = store.reserve(job.from_id, job.job_id, job.created_at or 0.0)
        url = take_url(store.config, take_id, job.from_id) if take_id else ""
    except Exception as exc:
        log.warning("job %s: no take link: %s", job.job_id, describe_error(exc))
        return ""
    return "\n\n" + t("take_link", job.lang, url=url) if url else ""


def listening_copies(store: TakeStore | None, work: Path) -> ListeningCopies | None:
    """Where the job writes its take's audio (in its work dir, which is removed with the
    job), or None when no take will be kept. One per job: ``correct_file`` starts the copies,
    :func:`keep_take` waits for them, and a job that ends otherwise calls ``remove()``."""
    if store is None or not store.config.enabled:
        return None
    return ListeningCopies(before=work / "listen-before.ogg", after=work / "listen-after.ogg")


def keep_take(
    store: TakeStore,
    job: Any,
    report: Any,
    src: Path,
    dst: Path,
    listening: ListeningCopies | None = None,
) -> str | None:
    """Blocking: store the take under the id its link was made with; the take id, or None
    when nothing was kept. Its audio is the job's listening copies when both were written,
    else it is encoded from the job's input and result (one more ffmpeg run)."""
    if not store.config.enabled:
        return None
    try:
        record = take_record(report, take_id=new_take_id(), job_id=job.job_id,
                             user_id=job.from_id, created_at=job.created_at or 0.0,
                             file_title=job.doc_title, kind=job.kind)  # fmt: skip
        if listening is not None:
            if listening.finish():
                return store.put(record, listening.before, listening.after, encoded=True)
            log.info("job %s: no listening copies (%s); encoding the take from its files",
                     job.job_id, listening.failure)  # fmt: skip
        return store.put(record, src, dst)
    except Exception as exc:
        log.warning("job %s: take not kept: %s", job.job_id, describe_error(exc))
        return None


async def take_link_line_async(store: TakeStore | None, job: Any) -> str:
    return "" if store is None else await asyncio.to_thread(take_link_line, store, job)


async def keep_take_async(
    store: TakeStore | None,
    job: Any,
    report: Any,
    src: Path,
    dst: Path,
    listening: ListeningCopies | None = None,
) -> str | None:
    if store is None:
        return None
    return await asyncio.to_thread(keep_take, store, job, report, src, dst, listening)
