"""Worker lease handling: a failing renewal must not end the heartbeat; a lost lease stops work."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import jobs
from bot.jobs import Job, SqliteJobStore, SubmitLimits
from bot.settings import Settings
from bot.worker import JobCancelled, LeaseLost, Worker, correct_options

LIMITS = SubmitLimits(max_waiting_per_user=3, max_clips_per_hour=5, max_queue_length=10)


class BusyOnceStore(SqliteJobStore):
    """A real SQLite store whose first lease renewal fails as a locked database would."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.renew_calls = 0
        self.renewed_after_failure = threading.Event()

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        if change.__qualname__.startswith("renew."):
            self.renew_calls += 1
            if self.renew_calls == 1:
                raise sqlite3.OperationalError("database is locked")
            result = super().update(job_id, change)
            self.renewed_after_failure.set()
            return result
        return super().update(job_id, change)


def _settings(tmp_path: Path, lease_s: float = 30.0) -> Settings:
    return Settings(
        vk_token="t",
        group_id=1,
        queue_path=tmp_path / "q.db",
        jobs_path=tmp_path / "jobs.db",
        work_dir=tmp_path / "work",
        lease_s=lease_s,
    )


def _running_job(store: SqliteJobStore, worker: str) -> Job:
    job = Job(
        job_id=jobs.job_id_for(7, 1),
        peer_id=7,
        from_id=7,
        message_id=1,
        cmid=1,
        doc_url="https://psv4.userapi.com/c1/doc.mp4",
        doc_title="take.mp4",
        doc_size=1000,
    )
    assert store.submit(job, LIMITS).created
    claimed = jobs.claim(store, job.job_id, worker, 30.0)
    assert claimed is not None
    return claimed


async def test_heartbeat_survives_a_failed_renewal(tmp_path: Path) -> None:
    store = BusyOnceStore(tmp_path / "jobs.db")
    job = _running_job(store, "me")
    worker = Worker(_settings(tmp_path, lease_s=0.15), store, lambda _job_id: None)
    heartbeat = asyncio.create_task(worker._heartbeat(job.job_id, "me"))
    renewed = asyncio.create_task(asyncio.to_thread(store.renewed_after_failure.wait, 10.0))
    try:
        done, _ = await asyncio.wait(
            {heartbeat, renewed}, timeout=15.0, return_when=asyncio.FIRST_COMPLETED
        )
        assert renewed in done and renewed.result(), "the lease was never renewed again"
        assert not heartbeat.done(), "the heartbeat stopped after one failed renewal"
    finally:
        heartbeat.cancel()
        store.renewed_after_failure.set()
        await asyncio.gather(heartbeat, renewed, return_exceptions=True)
    assert store.renew_calls >= 2


def test_check_cancel_stops_when_another_worker_took_the_job(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    job = _running_job(store, "me")
    worker = Worker(_settings(tmp_path), store, lambda _job_id: None)
    worker._check_cancel(job.job_id, "me")  # ours and running: carry on

    # Our lease expired and a second worker claimed the job: it is running, but not ours.
    store.update(job.job_id, lambda j: Job(**{**j.__dict__, "worker": "other"}))
    with pytest.raises(LeaseLost):
        worker._check_cancel(job.job_id, "me")
    worker._check_cancel(job.job_id, "other")

    store.update(job.job_id, lambda j: Job(**{**j.__dict__, "cancel_requested": True}))
    with pytest.raises(JobCancelled):
        worker._check_cancel(job.job_id, "other")


def test_job_options_become_pipeline_options() -> None:
    """None is "the default" (scale) except for A4, where it asks for the estimate."""
    from bot.prefs import UserPrefs

    auto = correct_options(UserPrefs(a4_hz=None, mode="hard").to_options(), "cpu")
    assert auto.a4_hz is None and auto.scale == "major" and auto.mode == "hard"
    assert auto.device == "cpu"
    assert correct_options(UserPrefs().to_options(), "cpu").a4_hz == 440.0
    # a job queued by an older bot may carry keys this pipeline no longer knows
    assert correct_options({"a4_hz": 442.0, "retired_option": 1}, "cpu").a4_hz == 442.0
