"""The worker's one call into the history: keep a finished take, return its link line.

Keeping a take is a bonus to the answer, never a condition of it: any failure here is
logged and the learner still gets their result (without the link).
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

log = logging.getLogger("smask.history")


def keep_take(store: TakeStore, job: Any, report: Any, src: Path, dst: Path) -> str:
    """Blocking: encode and store the take; the reply's link line, or "" (no link).

    ``job`` is a ``bot.jobs.Job``: its ``from_id`` owns the take, its ``created_at`` is
    checked against a /forget.
    """
    if not store.config.enabled:
        return ""
    try:
        record = take_record(report, take_id=new_take_id(), job_id=job.job_id,
                             user_id=job.from_id, created_at=job.created_at or 0.0,
                             file_title=job.doc_title, kind=job.kind)  # fmt: skip
        take_id = store.put(record, src, dst)
    except Exception as exc:
        log.warning("job %s: take not kept: %s", job.job_id, describe_error(exc))
        return ""
    if take_id is None:
        return ""
    url = take_url(store.config, take_id, job.from_id)
    return "\n\n" + t("take_link", job.lang, url=url) if url else ""


async def keep_take_async(store: TakeStore | None, job: Any, report: Any, src: Path,
                          dst: Path) -> str:  # fmt: skip
    if store is None:
        return ""
    return await asyncio.to_thread(keep_take, store, job, report, src, dst)
