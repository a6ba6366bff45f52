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
import errno
import logging
import os
import re
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
from bot import workdir
from bot.download import DownloadError, download
from bot.errors import OPERATOR_HINTS
from bot.history.keep import keep_take_async, listening_copies, take_link_line_async
from bot.history.store import TakeStore
from bot.jobs import Job, JobStore, QuarantineNotice
from bot.logsafe import describe_error
from bot.pulse import Pulse
from bot.settings import Settings
from bot.texts import PIPELINE_STAGE_KEYS, error_key, t
from bot.vk import deliver, deliver_voice, edit_ack, make_api, send, send_job_text
from bot.workdir import JOBS_SUBDIR, SCORE_DOC_STALE_S, SCORE_DOCS_SUBDIR
from core.errors import InputError, ProcessingError, Silent, Speech, TooShort, Unpitched

if TYPE_CHECKING:
    from core.media.listening import ListeningCopies
    from core.media.probe import Container
    from core.pipeline import CorrectOptions

log = logging.getLogger("smask.worker")

# Claims of one job before giving up on it: transient failures (network, VK) are counted by
# the worker that saw them; a worker that died (OOM kill, a codec's segfault) counts through
# the claim itself, so a clip that kills every worker is given up at claim MAX_ATTEMPTS + 1.
MAX_ATTEMPTS = 3
RETRY_DELAY_S = 10.0  # first retry after a transient failure; grows with each attempt
# Job options whose None is a choice ("read it from the recording"), not "use the default".
NONE_MEANS_ESTIMATE = frozenset({"a4_hz"})
# Download refusals that retrying cannot fix, and the text each one gets.
FINAL_DOWNLOAD_KEYS = {
    "host_not_allowed": "host_not_allowed",
    "declared_too_large": "declared_too_large",
    "too_large": "error_too_large",
}
# Refusals that, for a voice message, are no error: a breath, a cough, a second of silence.
NOTHING_TO_CORRECT = (Silent.code, Unpitched.code, Speech.code, TooShort.code)
# VK takes documents of any format but MP3 (docs.getUploadServer), so an MP3 file comes back
# as AAC in M4A, the nearest format VK keeps; the CLI still writes MP3.
BOT_RESULT_CONTAINER: dict[str, Container] = {"mp3": "m4a"}
# Result file suffix per container, so VK and players know what they hold.
RESULT_SUFFIX = {"m4a": ".m4a", "mov": ".mov", "ogg": ".ogg", "mp3": ".mp3", "wav": ".wav",
                 "flac": ".flac"}  # fmt: skip


_JOB_DIR_RE = re.compile(r"^(-?\d+_c?\d+)-(\d+)$")


def job_work_dir(work_dir: Path, job_id: str, attempt: int) -> Path:
    return work_dir / JOBS_SUBDIR / f"{job_id}-{attempt}"


# How the work dir fails us, in the words an operator searches the log for.
STORAGE_FAULTS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.ENAMETOOLONG: "file name too long",
}
# ffmpeg's own words for the same faults (it reports them on stderr, not as an errno we see).
_FFMPEG_STORAGE_WORDS = {
    "No space left on device": "disk full",
    "Disk quota exceeded": "disk quota exceeded",
    "Permission denied": "permission denied",
    "Read-only file system": "read-only file system",
}


def storage_fault(exc: BaseException, work: Path) -> str:
    """``"disk full"``, ``"permission denied"``... when ``exc`` is our scratch space failing
    us, else ``""``.

    Such a failure is no fault of the clip, and retrying on the same disk only makes the user
    wait: the job fails at once with a message that does not blame the clip. A full disk
    counts wherever it struck; the other faults only on a path inside ``work``, so that a
    permission problem elsewhere (a model file, say) is not taken for one.
    """
    cause = exc.__cause__ or exc.__context__
    if not isinstance(exc, OSError) and isinstance(cause, OSError):
        found = storage_fault(cause, work)  # our own error wrapping the system's
        if found:
            return found
    if isinstance(exc, OSError) and exc.errno in STORAGE_FAULTS:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return STORAGE_FAULTS[exc.errno]
        names = [n for n in (exc.filename, exc.filename2) if n is not None]
        if any(_inside(Path(os.fsdecode(n)), work) for n in names):
            return STORAGE_FAULTS[exc.errno]
        return ""
    if isinstance(exc, ProcessingError):
        said = f"{exc} {exc.facts.get('reason', '')}".lower()
        for words, fault in _FFMPEG_STORAGE_WORDS.items():
            if words.lower() in said:
                return fault
    return ""


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.absolute().is_relative_to(folder.absolute())
    except (OSError, ValueError):
        return False


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
        from core.score.model import Score

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
        pulse: Pulse | None = None,
        history: TakeStore | None = None,
    ) -> None:
        self.settings = settings
        # Every finished take is kept for the learner's page (bot/history/, issue 25).
        self.history = history or TakeStore.from_env(settings.state_dir)
        self.store = store
        self.enqueue = enqueue
        self.pulse = pulse
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
        try:
            asyncio.run(self.run_job(job_id))
        finally:
            if self.pulse is not None:
                self.pulse.job_thread_alive()  # this job thread is free again

    def tell_quarantined(self, notices: list[QuarantineNotice]) -> None:
        """Tell each user behind a quarantined job, once, that it is lost through no fault of
        theirs (the store hands each notice out once; the random_id keeps VK from posting a
        retried send twice). Called from the sweeper thread."""
        if any(n.peer_id for n in notices):
            asyncio.run(self._tell_quarantined(notices))

    async def _tell_quarantined(self, notices: list[QuarantineNotice]) -> None:
        api = make_api(self.settings)
        try:
            for notice in notices:
                if not notice.peer_id:
                    log.warning("job %s: quarantined; no chat to tell", notice.job_id)
                    continue
                lang = notice.lang or self.settings.default_language
                try:
                    await send(
                        api,
                        notice.peer_id,
                        t("error_job_unreadable", lang),
                        random_id=jobs_mod.random_id_for(notice.job_id, "quarantined"),
                    )
                except Exception as exc:
                    log.error(
                        "job %s: quarantined; could not tell chat %s: %s",
                        notice.job_id,
                        notice.peer_id,
                        describe_error(exc),
                    )
                else:
                    log.info("job %s: quarantined; told chat %s", notice.job_id, notice.peer_id)
        finally:
            await api.http_client.close()

    async def run_job(self, job_id: str) -> None:
        me = worker_id()
        job = await asyncio.to_thread(jobs_mod.claim, self.store, job_id, me, self.settings.lease_s)
        if job is None:
            log.debug("job %s is not claimable (done, cancelled or leased)", job_id)
            return
        api = make_api(self.settings)
        if job.attempts > MAX_ATTEMPTS:
            try:
                await self._give_up_crashed(api, job, me)
            finally:
                await api.http_client.close()
            return
        log.info("job %s: attempt %d by %s", job_id, job.attempts, me)
        heartbeat = asyncio.create_task(self._heartbeat(job_id, me))
        pulse = asyncio.create_task(self._pulse())
        work = job_work_dir(self.settings.work_dir, job_id, job.attempts)
        held: int | None = None
        try:
            try:
                work.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # no place to work: no clip's fault, and no retry helps
                fault = storage_fault(exc, work) or "cannot create the job's folder"
                await self._storage_failed(api, job, me, fault, exc)
                return
            held = workdir.hold(work)  # the sweeper leaves it alone until we let go
            await self._run(api, job, me, work)
        finally:
            heartbeat.cancel()
            pulse.cancel()
            shutil.rmtree(work, ignore_errors=True)
            if held is not None:
                os.close(held)
            await api.http_client.close()

    async def _give_up_crashed(self, api: API, job: Job, me: str) -> None:
        """A job claimed MAX_ATTEMPTS times that never finished: its workers died on it.

        Running it again would most likely kill this worker too, and with it the other jobs
        this process runs; so the user is told (once: the message's random_id is stable) and
        the job is failed, which frees the user's slot and the queue's.
        """
        log.error(
            "job %s: claimed %d times without finishing (each worker died on it); giving up",
            job.job_id,
            job.attempts - 1,
        )
        await self._fail(api, job, me, "worker_crashed", t("error_worker_crashed", job.lang))

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
                log.warning(
                    "job %s: lease renewal failed (%s); will try again", job_id, describe_error(exc)
                )
                continue
            if not renewed:
                log.warning("job %s: lease lost", job_id)
                return

    async def _pulse(self) -> None:
        """While a job runs, its thread's event loop beats for ``smask health``: a loop that
        stops turning (a blocking call on it) stops beating, and the worker goes stale."""
        if self.pulse is None:
            return
        while True:
            await asyncio.to_thread(self.pulse.job_thread_alive)
            await asyncio.sleep(self.pulse.every_s)  # a period, not synchronisation

    async def _storage_failed(
        self, api: API, job: Job, me: str, fault: str, exc: BaseException
    ) -> None:
        """The work dir failed us: say how for the operator, fail the job now, and tell the
        user it was not their clip."""
        log.error(
            "job %s: work dir %s failed: %s (%s); the job fails now, the clip is not to blame",
            job.job_id,
            self.settings.work_dir,
            fault,
            describe_error(exc),
        )
        await self._fail(api, job, me, "work_dir_failed", t("error_server_storage", job.lang))

    async def _progress(self, api: API, job: Job, key: str) -> None:
        current = await asyncio.to_thread(self.store.get, job.job_id)
        if current is not None:
            await edit_ack(api, current, t(key, job.lang))

    async def _run(self, api: API, job: Job, me: str, work: Path) -> None:
        listening = listening_copies(self.history, work)
        try:
            await self._answer(api, job, me, work, listening)
        finally:  # a take not kept: its copy may still be encoding
            if listening is not None:
                await asyncio.to_thread(listening.remove)

    async def _answer(
        self, api: API, job: Job, me: str, work: Path, listening: ListeningCopies | None
    ) -> None:
        lang = job.lang
        src = work / "input.bin"
        plot = work / "pitch.png"
        try:
            await self._progress(api, job, "stage_downloading")
            await self._download(job, src)
            await asyncio.to_thread(self._check_cancel, job.job_id, me)
            report, dst = await self._correct(api, job, me, src, work, listening)
            await asyncio.to_thread(self._check_cancel, job.job_id, me)  # last check before upload
            await self._progress(api, job, "stage_uploading")
            summary = _report_text(report, lang)
            summary += await take_link_line_async(self.history, job)  # kept after the reply
            plot_path = await asyncio.to_thread(_plot, report, plot, lang)
            if job.kind == "voice":
                text = t("result_voice", lang, summary=summary)
                message_id = await deliver_voice(api, job, dst, text, plot_path)
            else:
                result_key = "result" if dst.suffix in (".mp4", ".mov") else "result_audio"
                text = t(result_key, lang, summary=summary)
                message_id = await self._deliver(api, job, dst, text, plot_path)
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
            if job.kind == "voice" and exc.code in NOTHING_TO_CORRECT:
                await self._nothing_to_correct(api, job, me, exc.code)
                return
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
            fault = storage_fault(exc, work)
            if fault:
                await self._storage_failed(api, job, me, fault, exc)
            else:
                await self._retry_or_fail(api, job, me, "processing_failed", exc)
            return
        if await asyncio.to_thread(
            jobs_mod.finish, self.store, job.job_id, me, "done", result_message_id=message_id
        ):
            heard = report.harmonicity_db
            log.info(
                "job %s: done, answered with message %s; %d notes, harmonicity %s%s",
                job.job_id,
                message_id,
                len(report.notes),
                "-" if heard is None else f"{heard:.1f} dB",
                " (noisy or echoing recording)" if report.noisy_recording else "",
            )
            await self._progress(api, job, "done_ack")
            # The take behind the reply's link, off the learner's wait (bot/history/keep.py).
            await keep_take_async(self.history, job, report, src, dst, listening)

    async def _download(self, job: Job, src: Path) -> None:
        """The job's file; a voice message whose OGG fails falls back to its MP3 link."""
        urls = [u for u in (job.doc_url, job.fallback_url) if u]
        for i, url in enumerate(urls):
            try:
                await download(
                    url,
                    src,
                    allowed_hosts=self.settings.allowed_hosts,
                    max_bytes=self.settings.max_download_bytes,
                    timeout_s=self.settings.download_timeout_s,
                    declared_size=job.doc_size or None,
                )
                return
            except DownloadError as exc:
                if exc.code != "download_failed" or i == len(urls) - 1:
                    raise
                log.info("job %s: %s; trying the fallback link", job.job_id, describe_error(exc))

    async def _nothing_to_correct(self, api: API, job: Job, me: str, code: str) -> None:
        """A voice message with nothing to correct: its reason, and the job counts as done."""
        try:
            # Silence gets the kind word; speech, a note too short or noise their own reason.
            key = "voice_nothing_to_correct" if code == Silent.code else error_key(code)
            await send_job_text(api, job, t(key, job.lang), purpose="result")
        except Exception as exc:
            log.error("job %s: could not send the answer: %s", job.job_id, describe_error(exc))
        if await asyncio.to_thread(
            jobs_mod.finish, self.store, job.job_id, me, "done", error_code=code
        ):
            await self._progress(api, job, "nothing_ack")

    async def _deliver(
        self, api: API, job: Job, dst: Path, text: str, plot_path: Path | None
    ) -> int:
        if not self.settings.vk_user_token or dst.suffix not in (".mp4", ".mov"):
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

    async def _correct(
        self,
        api: API,
        job: Job,
        me: str,
        src: Path,
        work: Path,
        listening: ListeningCopies | None,
    ) -> tuple[Any, Path]:
        """Run core.pipeline.correct_file in a thread, turning its stages into chat edits.

        The result's format: OGG/Opus for a voice message (whatever link it came from), the
        input's own family for a file (a clip stays a clip, a FLAC a FLAC; an MP3 comes back
        as M4A, see BOT_RESULT_CONTAINER).

        Returns:
            (the report, the result's path).
        """
        from core.limits import MediaLimits
        from core.media.io import result_container
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
        from core.media.probe import probe

        info = await asyncio.to_thread(probe, src, limits=limits)
        container: Container = "ogg" if job.kind == "voice" else result_container(info)
        container = BOT_RESULT_CONTAINER.get(container, container)
        dst = work / f"corrected{RESULT_SUFFIX.get(container, '.mp4')}"
        tracker = await asyncio.to_thread(self.tracker)
        try:
            report = await asyncio.to_thread(
                correct_file,
                src,
                dst,
                options,
                progress=progress,
                tracker=tracker,
                info=info,
                container=container,
                listening=listening,
            )
            return report, dst
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
            log.error(
                "job %s: could not send the error message: %s", job.job_id, describe_error(exc)
            )
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
            log.warning(
                "job %s: attempt %d failed (%s); will retry",
                job.job_id,
                job.attempts,
                describe_error(exc),
            )

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
        log.error(
            "job %s: giving up after %d attempts: %s", job.job_id, job.attempts, describe_error(exc)
        )
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
        log.warning("report text failed: %s", describe_error(exc))
        return ""


def _plot(report: Any, path: Path, lang: str) -> Path | None:
    try:
        report.plot(path, lang)
    except Exception as exc:
        log.warning("pitch picture failed: %s", describe_error(exc))
        return None
    return path if path.exists() else None


def _clean_score_docs(root: Path, now: float) -> int:
    """Remove score docs older than ``SCORE_DOC_STALE_S`` (a crash between fetch and delete)."""
    removed = 0
    for entry in root.glob("*.bin"):
        try:
            stale = now - entry.stat().st_mtime > SCORE_DOC_STALE_S
            if stale and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
                removed += 1
        except OSError:
            continue
    return removed


def clean_work_dir(store: JobStore, work_dir: Path) -> int:
    """Remove scratch folders a killed worker left behind; returns how many.

    Only ``<work_dir>/smask-jobs/<job id>-<attempt>`` folders are ours, and one is kept while
    that very attempt runs or a live job still holds it (``bot.workdir.hold``); so are
    ``smask-jobs/score-docs/*.bin`` files, removed once stale.
    Anything else, in ``work_dir`` or in ``smask-jobs``, is left alone: an operator may point
    ``SMASK_WORK_DIR`` at a directory that holds other things.
    """
    root = work_dir / JOBS_SUBDIR
    if not root.is_dir():
        return 0
    removed = _clean_score_docs(root / SCORE_DOCS_SUBDIR, time.time())
    for entry in root.iterdir():
        match = _JOB_DIR_RE.match(entry.name)
        if match is None or not entry.is_dir() or entry.is_symlink():
            continue
        job_id, attempt = match.groups()
        job = store.get(job_id)
        this_attempt_runs = (
            job is not None and job.state == "running" and str(job.attempts) == attempt
        )
        if not this_attempt_runs and not workdir.in_use(entry):  # "done", still keeping the take
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def process_id() -> str:
    """This worker process in heartbeats: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Sweeper(threading.Thread):
    """Every ``interval_s``: beat, hand jobs of dead workers back, prune, clean scratch.

    * the heartbeat (``store.beat``, through ``bot.pulse.Pulse``) says this worker process is
      alive, for ``smask health`` and ``/status``; it expires after three missed beats, and
      it carries the job threads' own last beat, so wedged job threads show as stale;
    * users behind jobs the store quarantined (unreadable rows) are told, once;
    * jobs whose lease expired (their worker died) go back to the queue;
    * finished jobs older than ``retention_s`` are deleted, every ``prune_every_s``, and so
      are the learners' takes past the history's retention (``bot.history``);
    * this host's scratch folders of attempts that no longer run are removed.
    """

    def __init__(
        self,
        store: JobStore,
        enqueue: Callable[[str], None],
        *,
        interval_s: float,
        stale_queued_s: float,
        work_dir: Path | None = None,
        retention_s: float = jobs_mod.DEFAULT_RETENTION_S,
        prune_every_s: float = 600.0,
        threads: int = 1,
        pulse: Pulse | None = None,
        tell_quarantined: Callable[[list[QuarantineNotice]], None] | None = None,
        history: TakeStore | None = None,
    ) -> None:
        super().__init__(name="smask-sweeper", daemon=True)
        self.history = history
        self.work_dir = work_dir
        self.store = store
        self.enqueue = enqueue
        self.interval_s = interval_s
        self.stale_queued_s = stale_queued_s
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self.me = process_id()
        self.info = {
            "worker": self.me,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "threads": threads,
            "started_at": time.time(),
        }
        self.stopped = threading.Event()
        self._pruned_at = float("-inf")
        self._beat_at = float("-inf")
        # At most one heartbeat write a second, however short the sweep interval (tests).
        self.beat_every_s = max(interval_s, 1.0)
        self.pulse = pulse or Pulse(store, self.me, self.info, every_s=self.beat_every_s)
        self.tell_quarantined = tell_quarantined

    def beat(self) -> None:
        """Alive for three more beats (and 5 s of slack); the record carries the job threads'
        last beat, and `smask health` counts only workers whose job threads beat lately."""
        self._beat_at = time.monotonic()
        self.pulse.publish()

    def sweep_once(self) -> None:
        if time.monotonic() - self._beat_at >= self.beat_every_s:
            self.beat()
        if self.tell_quarantined is not None:
            notices = self.store.take_quarantine_notices()
            if notices:
                self.tell_quarantined(notices)
        requeued = jobs_mod.sweep(self.store, self.enqueue, self.stale_queued_s)
        if requeued:
            log.warning("sweeper re-enqueued %d job(s): %s", len(requeued), requeued)
        now = time.monotonic()
        if now - self._pruned_at >= self.prune_every_s:
            self._pruned_at = now
            pruned = self.store.prune(time.time() - self.retention_s)
            if pruned:
                log.info("pruned %d finished job(s) older than %.0f s", pruned, self.retention_s)
            if self.history is not None and self.history.config.enabled:
                dropped = self.history.prune_all()
                if dropped:
                    log.info("history retention dropped %d take(s)", dropped)
        if self.work_dir is not None:
            clean_work_dir(self.store, self.work_dir)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.sweep_once()
            except Exception as exc:
                log.error("sweep failed (%s); will try again", describe_error(exc))
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=self.interval_s + 30.0)  # no beat after the heartbeat is gone
        try:
            self.store.forget(self.me)
        except Exception as exc:  # the heartbeat expires by itself
            log.warning("could not remove this worker's heartbeat: %s", describe_error(exc))
