"""A work dir the worker cannot use fails the job at once, with an operator's log line that
names the fault and a user message that does not blame the clip (issue 26, defect 5).

Run as root, a chmod blocks nothing; so the unwritable dir is a path under a regular file
(NotADirectoryError, for any user), and the full disk a 64 KiB tmpfs (only where this test
may mount one: root with CAP_SYS_ADMIN; skipped elsewhere).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fakevk import FakeVK
from fakevk.harness import WorkerProcess, make_clip, make_settings, tracker_or_skip

from bot import jobs
from bot.jobs import Job, SubmitLimits
from bot.queue import JobQueue, make_huey
from bot.settings import Settings
from bot.texts import t

LIMITS = SubmitLimits(max_waiting_per_user=3, max_clips_per_hour=20, max_queue_length=10)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``mount(size_kib)``: a tmpfs of that size, unmounted after the test."""
    mounted: list[Path] = []

    def mount(size_kib: int) -> Path:
        where = tmp_path / "tiny"
        where.mkdir()
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)]
        done = subprocess.run(cmd, capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')[:200]}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=True)


async def _one_job(tmp_path: Path, settings: Settings, fake: FakeVK, clip: Path) -> Job:
    """Submit one clip as the bot would, run a real worker until the job ends, return it."""
    store = jobs.make_store(settings)
    url = fake.add_file("clip.mp4", clip.read_bytes())
    job = Job(
        job_id="90_1",
        peer_id=90,
        from_id=90,
        message_id=1,
        cmid=1,
        doc_url=url,
        doc_title="clip.mp4",
        doc_size=0,
    )
    assert store.submit(job, LIMITS).created
    jobs.set_reply_message(store, job.job_id, 1)  # edited after the outcome is recorded
    JobQueue(make_huey(settings)).enqueue(job.job_id)
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()
    try:
        await fake.wait_for(
            lambda: (j := store.get("90_1")) is not None and j.state in jobs.FINAL_STATES,
            timeout_s=60,
        )
    finally:
        assert await asyncio.to_thread(worker.stop) == 0
    ended = store.get("90_1")
    assert ended is not None
    return ended


def _assert_failed_at_once_without_blame(ended: Job, fake: FakeVK, log: str) -> None:
    assert (ended.state, ended.error_code, ended.attempts) == ("failed", "work_dir_failed", 1)
    (answer,) = fake.replies_to(90, 1)
    assert answer.text == t("error_server_storage", "ru")
    assert "will retry" not in log and "re-enqueued" not in log


async def test_a_work_dir_under_a_file_fails_the_job_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("an operator's file where the work dir should be")
    fake = await FakeVK(group_id=77).start()
    try:
        settings = make_settings(tmp_path, fake, work_dir=blocker / "work")
        clip = make_clip(tmp_path / "clip.mp4", f0_hz=452.0)
        ended = await _one_job(tmp_path, settings, fake, clip)
    finally:
        await fake.stop()
    log = (tmp_path / "worker.log").read_text()
    _assert_failed_at_once_without_blame(ended, fake, log)
    assert f"job 90_1: work dir {blocker / 'work'} failed: not a directory" in log


async def test_a_full_disk_is_logged_as_one_and_fails_the_job_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_tmpfs: Callable[[int], Path]
) -> None:
    """The clip fits; its result does not (ffmpeg, or Python writing, hits ENOSPC)."""
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    clip = make_clip(tmp_path / "clip.mp4", f0_hz=452.0, seconds=3.0, size="128x96")
    disk = tiny_tmpfs(clip.stat().st_size // 1024 + 12)  # room for the clip, not its result
    fake = await FakeVK(group_id=77).start()
    try:
        settings = replace(make_settings(tmp_path, fake), work_dir=disk)
        ended = await _one_job(tmp_path, settings, fake, clip)
    finally:
        await fake.stop()
    log = (tmp_path / "worker.log").read_text()
    _assert_failed_at_once_without_blame(ended, fake, log)
    assert f"job 90_1: work dir {disk} failed: disk full" in log
    assert list((disk / "smask-jobs").iterdir()) == []  # the attempt's scratch is gone


def test_ffmpeg_out_of_space_is_a_full_disk_and_elsewhere_permission_is_not_ours(
    tmp_path: Path,
) -> None:
    """What core.media.io raises when ffmpeg cannot write the result names the fault the
    operator needs; a permission error outside the work dir stays an ordinary failure."""
    from bot.worker import storage_fault
    from core.errors import ProcessingError

    full = ProcessingError(
        "ffmpeg could not write the result", reason="out.mp4: No space left on device"
    )
    assert storage_fault(full, tmp_path) == "disk full"
    elsewhere = PermissionError(13, "Permission denied", "/opt/models/x.pt")
    assert storage_fault(elsewhere, tmp_path) == ""
    inside = PermissionError(13, "Permission denied", str(tmp_path / "a" / "input.bin"))
    assert storage_fault(inside, tmp_path) == "permission denied"
