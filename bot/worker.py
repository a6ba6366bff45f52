"""The worker: claim a job, fetch the clip, run the core pipeline, answer in the chat.

A worker process loads the pitch model once and keeps it; huey threads call ``Worker.process``
with a job id. Every step is safe to repeat: the claim is atomic, the lease is renewed while
the job runs, and every message carries a random_id derived from the job, so a job re-run
after a SIGKILL posts nothing twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vkbottle import API, VKAPIError

from bot import jobs as jobs_mod
from bot.download import DownloadError, download
from bot.errors import OPERATOR_HINTS
from bot.jobs import Job, JobStore
from bot.settings import Settings
from bot.texts import PIPELINE_STAGE_KEYS, error_key, t
from bot.vk import deliver, edit, make_api, send_job_text
from core.errors import InputError

if TYPE_CHECKING:
    from core.pipeline import CorrectOptions

log = logging.getLogger("smask.worker")

MAX_ATTEMPTS = 3  # transient failures (network, VK, our own crashes) before giving up
RETRY_DELAY_S = 10.0  # first retry after a transient failure; grows with each attempt
# Job options whose None is a choice ("read it from the recording"), not "use the default".
NONE_MEANS_ESTIMATE = frozenset({"a4_hz"})
# Download refusals that retrying cannot fix, and the text each one gets.
FINAL_DOWNLOAD_KEYS = {
    "host_not_allowed": "host_not_allowed",
    "declared_too_large": "declared_too_large",
    "too_large": "error_too_large",
}


class JobCancelled(Exception):
    """Raised from the progress callback to stop the pipeline at the next stage."""


class LeaseLost(Exception):
    """Another worker took the job over (our lease expired); stop without answering."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def correct_options(job_options: dict[str, Any], device: str) -> CorrectOptions:
    """The pipeline's options from the snapshot a job carries (see bot.prefs.to_options).

    Keys the pipeline does not know are ignored (a job queued by an older bot still runs), and
    None means "the default" except where it is itself a choice (``NONE_MEANS_ESTIMATE``).
    The tune (``score``) arrives as a dict and is rebuilt here; a damaged one raises
    core.errors.ScoreUnreadable, which the user is told about like a bad clip.
    """
    from core.pipeline import CorrectOptions

    known = {f.name for f in dataclasses.fields(CorrectOptions)}
    values = {
        k: v
        for k, v in job_options.items()
        if k in known and (v is not None or k in NONE_MEANS_ESTIMATE)
    }
    values["device"] = device
    if isinstance(values.get("score"), dict):  # the user's tune travels as Score.to_dict()
        from core.score import Score

        values["score"] = Score.from_dict(values["score"])
    return CorrectOptions(**values)


class Worker:
    """Runs jobs for one process; holds the loaded pitch model.

    Args:
        settings: service settings (VK endpoint, limits, device, work directory).
        store: the durable job table.
        enqueue: puts a job id back on the queue (used to retry transient failures).
    """

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        enqueue: Callable[[str], None],
        *,
        enqueue_later: Callable[[str, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.enqueue = enqueue
        self.enqueue_later = enqueue_later or (lambda job_id, _delay_s: enqueue(job_id))
        self._tracker: Any = None
        self._tracker_lock = threading.Lock()

    def device(self) -> str:
        if self.settings.device:
            return self.settings.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def tracker(self) -> Any:
        """The pitch model, loaded on first use and shared by this process's threads."""
        with self._tracker_lock:
            if self._tracker is None:
                from models.checkpoint import load_tracker

                started = time.perf_counter()
                self._tracker = load_tracker(self.settings.tracker, device=self.device())
                log.info(
                    "pitch model loaded on %s in %.1f s",
                    self.device(),
                    time.perf_counter() - started,
                )
            return self._tracker

    def process(self, job_id: str) -> None:
        """huey entry point (a worker thread): run one job to its end."""
        asyncio.run(self.run_job(job_id))

    async def run_job(self, job_id: str) -> None:
        me = worker_id()
        job = await asyncio.to_thread(jobs_mod.claim, self.store, job_id, me, self.settings.lease_s)
        if job is None:
            log.debug("job %s is not claimable (done, cancelled or leased)", job_id)
            return
        log.info("job %s: attempt %d by %s", job_id, job.attempts, me)
        api = make_api(self.settings)
        heartbeat = asyncio.create_task(self._heartbeat(job_id, me))
        work = self.settings.work_dir / f"{job_id}-{job.attempts}"
        try:
            work.mkdir(parents=True, exist_ok=True)
            await self._run(api, job, me, work)
        finally:
            heartbeat.cancel()
            shutil.rmtree(work, ignore_errors=True)
            await api.http_client.close()

    async def _heartbeat(self, job_id: str, me: str) -> None:
        """Renew the lease every third of it, so only a dead worker's job is taken over.

        One failed renewal (SQLite busy, Redis reconnecting) must not end the heartbeat: the
        lease would then expire under a live job and a second worker would run it again.
        """
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)  # a period, not synchronisation
            try:
                renewed = await asyncio.to_thread(
                    jobs_mod.renew, self.store, job_id, me, self.settings.lease_s
                )
            except Exception as exc:
                log.warning("job %s: lease renewal failed (%r); will try again", job_id, exc)
                continue
            if not renewed:
                log.warning("job %s: lease lost", job_id)
                return

    async def _progress(self, api: API, job: Job, key: str) -> None:
        current = await asyncio.to_thread(self.store.get, job.job_id)
        if current is not None and current.reply_message_id:
            await edit(api, job.peer_id, current.reply_message_id, t(key, job.lang))

    async def _run(self, api: API, job: Job, me: str, work: Path) -> None:
        lang = job.lang
        src = work / "input.bin"
        dst = work / "corrected.mp4"
        plot = work / "pitch.png"
        try:
            await self._progress(api, job, "stage_downloading")
            await download(
                job.doc_url,
                src,
                allowed_hosts=self.settings.allowed_hosts,
                max_bytes=self.settings.max_download_bytes,
                timeout_s=self.settings.download_timeout_s,
                declared_size=job.doc_size or None,
            )
            await asyncio.to_thread(self._check_cancel, job.job_id, me)
            report = await self._correct(api, job, me, src, dst)
            await asyncio.to_thread(self._check_cancel, job.job_id, me)  # last check before upload
            await self._progress(api, job, "stage_uploading")
            summary = _report_text(report, lang)
            plot_path = await asyncio.to_thread(_plot, report, plot)
            message_id = await self._deliver(
                api, job, dst, t("result", lang, summary=summary), plot_path
            )
        except JobCancelled:
            await self._end(api, job, me, "cancelled", "cancelled_ack")
            return
        except DownloadError as exc:
            key = FINAL_DOWNLOAD_KEYS.get(exc.code)
            if key is not None:
                await self._fail(api, job, me, exc.code, t(key, lang, **_size_facts(job, self)))
            else:
                await self._retry_or_fail(api, job, me, "download_failed", exc)
            return
        except InputError as exc:
            log.info("job %s: input refused: %s (%s)", job.job_id, exc.code, exc.detail)
            await self._fail(api, job, me, exc.code, t(error_key(exc.code), lang, **exc.facts))
            return
        except VKAPIError as exc:
            code = int(getattr(exc, "code", 0) or 0)
            if code in OPERATOR_HINTS:  # retrying cannot help; already logged for the operator
                await asyncio.to_thread(
                    jobs_mod.finish, self.store, job.job_id, me, "failed", error_code=f"vk_{code}"
                )
            else:
                await self._retry_or_fail(api, job, me, "processing_failed", exc)
            return
        except Exception as exc:  # our failure or VK's: try again, then apologise
            await self._retry_or_fail(api, job, me, "processing_failed", exc)
            return
        if await asyncio.to_thread(
            jobs_mod.finish, self.store, job.job_id, me, "done", result_message_id=message_id
        ):
            log.info("job %s: done, answered with message %s", job.job_id, message_id)
            await self._progress(api, job, "done_ack")

    async def _deliver(
        self, api: API, job: Job, dst: Path, text: str, plot_path: Path | None
    ) -> int:
        if not self.settings.vk_user_token:
            return await deliver(api, job, dst, text, plot_path)
        video_api = make_api(self.settings, user=True)
        try:
            return await deliver(
                api,
                job,
                dst,
                text,
                plot_path,
                video_api=video_api,
                group_id=self.settings.group_id,
            )
        finally:
            await video_api.http_client.close()

    def _check_cancel(self, job_id: str, me: str) -> None:
        """Blocking store read: call it from a thread, never on the event loop."""
        current = self.store.get(job_id)
        if current is None or current.cancel_requested:
            raise JobCancelled(job_id)
        if current.state != "running" or current.worker != me:  # taken over: its worker answers
            raise LeaseLost(job_id)

    async def _correct(self, api: API, job: Job, me: str, src: Path, dst: Path) -> Any:
        """Run core.pipeline.correct_file in a thread, turning its stages into chat edits."""
        from core.limits import MediaLimits
        from core.pipeline import correct_file

        loop = asyncio.get_running_loop()
        shown: set[str] = set()
        edits: list[concurrent.futures.Future[None]] = []

        def progress(stage: str, fraction: float) -> None:
            key = PIPELINE_STAGE_KEYS.get(stage)
            if key is None or key in shown:
                return
            shown.add(key)
            self._check_cancel(job.job_id, me)
            edits.append(asyncio.run_coroutine_threadsafe(self._progress(api, job, key), loop))

        options = correct_options(job.options, self.device())
        limits = MediaLimits.from_env()
        if limits.max_bytes < self.settings.max_download_bytes:
            limits = replace(limits, max_bytes=self.settings.max_download_bytes)
        # Refuse a bad file before touching the model: the user's answer must not depend on it.
        from core.probe import probe

        info = await asyncio.to_thread(probe, src, limits=limits, require_video=True)
        tracker = await asyncio.to_thread(self.tracker)
        try:
            return await asyncio.to_thread(
                correct_file,
                src,
                dst,
                options,
                progress=progress,
                tracker=tracker,
                info=info,
            )
        finally:  # progress edits land before the next ones, never after the final answer
            await asyncio.gather(*(asyncio.wrap_future(f) for f in edits), return_exceptions=True)

    async def _end(self, api: API, job: Job, me: str, state: str, ack_key: str) -> None:
        if await asyncio.to_thread(jobs_mod.finish, self.store, job.job_id, me, state):
            await self._progress(api, job, ack_key)

    async def _fail(self, api: API, job: Job, me: str, code: str, text: str) -> None:
        """Tell the user once (stable random_id), then record the failure."""
        try:
            await send_job_text(api, job, text, purpose="error")
        except Exception as exc:
            log.error("job %s: could not send the error message: %s", job.job_id, exc)
        if await asyncio.to_thread(
            jobs_mod.finish, self.store, job.job_id, me, "failed", error_code=code
        ):
            await self._progress(api, job, "failed_ack")

    async def _retry_or_fail(
        self, api: API, job: Job, me: str, code: str, exc: BaseException
    ) -> None:
        if isinstance(exc, LeaseLost):
            return
        if job.attempts < MAX_ATTEMPTS:
            log.warning("job %s: attempt %d failed (%r); will retry", job.job_id, job.attempts, exc)

            def release(j: Job) -> Job | None:
                if j.state != "running" or j.worker != me:
                    return None
                return replace(
                    j, state="queued", worker="", lease_until=0.0, enqueued_at=time.time()
                )

            if await asyncio.to_thread(self.store.update, job.job_id, release):
                delay_s = RETRY_DELAY_S * job.attempts
                await asyncio.to_thread(self.enqueue_later, job.job_id, delay_s)
            return
        log.error("job %s: giving up after %d attempts: %r", job.job_id, job.attempts, exc)
        key = "download_failed" if code == "download_failed" else error_key(code)
        await self._fail(api, job, me, code, t(key, job.lang))


def _size_facts(job: Job, worker: Worker) -> dict[str, Any]:
    return {
        "size_mb": round(job.doc_size / 2**20, 1),
        "max_mb": round(worker.settings.max_download_bytes / 2**20, 1),
    }


def _report_text(report: Any, lang: str) -> str:
    try:
        return str(report.to_text(lang))
    except Exception as exc:  # a summary problem must not cost the user the clip
        log.warning("report text failed: %r", exc)
        return ""


def _plot(report: Any, path: Path) -> Path | None:
    try:
        report.plot(path)
    except Exception as exc:
        log.warning("pitch picture failed: %r", exc)
        return None
    return path if path.exists() else None


def clean_work_dir(store: JobStore, work_dir: Path) -> int:
    """Remove scratch directories a killed worker left behind; returns how many.

    A directory is ``<job_id>-<attempt>``; it is kept only while that very attempt runs.
    """
    if not work_dir.is_dir():
        return 0
    removed = 0
    for entry in work_dir.iterdir():
        job_id, _, attempt = entry.name.rpartition("-")
        job = store.get(job_id) if job_id else None
        if job is None or job.state != "running" or str(job.attempts) != attempt:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


class Sweeper(threading.Thread):
    """Every ``interval_s``, hand jobs of dead workers (expired leases) back to the queue.

    It also removes this host's scratch directories of attempts that no longer run.
    """

    def __init__(
        self,
        store: JobStore,
        enqueue: Callable[[str], None],
        *,
        interval_s: float,
        stale_queued_s: float,
        work_dir: Path | None = None,
    ) -> None:
        super().__init__(name="smask-sweeper", daemon=True)
        self.work_dir = work_dir
        self.store = store
        self.enqueue = enqueue
        self.interval_s = interval_s
        self.stale_queued_s = stale_queued_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                requeued = jobs_mod.sweep(self.store, self.enqueue, self.stale_queued_s)
                if requeued:
                    log.warning("sweeper re-enqueued %d job(s): %s", len(requeued), requeued)
                if self.work_dir is not None:
                    clean_work_dir(self.store, self.work_dir)
            except Exception:
                log.exception("sweep failed; will try again")
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()
