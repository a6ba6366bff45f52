"""The sweeper: beats for `smask health`, prunes old jobs, and deletes only its own folders."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fakevk.redis_server import redis_server, redis_url  # noqa: F401

from bot import jobs, workdir
from bot.health import check
from bot.jobs import Job, JobStore, SqliteJobStore, SubmitLimits
from bot.workdir import JOBS_SUBDIR, SCORE_DOC_STALE_S, score_doc_path
from bot.worker import Sweeper, clean_work_dir, job_work_dir, process_id

LIMITS = SubmitLimits(max_waiting_per_user=3, max_clips_per_hour=20, max_queue_length=10)
WEEK_S = 7 * 24 * 3600.0


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "sqlite":
        return SqliteJobStore(tmp_path / "jobs.db")
    return jobs.RedisJobStore(str(request.getfixturevalue("redis_url")))


def _job(peer: int, msg: int = 1) -> Job:
    return Job(
        job_id=jobs.job_id_for(peer, msg),
        peer_id=peer,
        from_id=peer,
        message_id=msg,
        cmid=msg,
        doc_url="https://psv4.userapi.com/c1/doc.mp4",
        doc_title="take.mp4",
        doc_size=1000,
    )


def _sweeper(store: JobStore, work_dir: Path | None = None) -> Sweeper:
    return Sweeper(
        store,
        lambda _job_id: None,
        interval_s=30.0,
        stale_queued_s=900.0,
        work_dir=work_dir,
        retention_s=WEEK_S,
        threads=2,
    )


def test_a_sweep_beats_and_health_sees_the_worker(store: JobStore) -> None:
    assert not check(store).healthy
    store.submit(_job(10), LIMITS, now=time.time() - 120)
    store.submit(_job(11), LIMITS)
    assert jobs.claim(store, "11_1", "w", 30.0) is not None
    sweeper = _sweeper(store)
    sweeper.sweep_once()
    (beat,) = store.live_workers()
    assert beat["worker"] == process_id() and beat["pid"] == os.getpid()
    assert beat["threads"] == 2 and beat["beat_at"] >= beat["started_at"]
    health = check(store)
    assert health.healthy and health.workers_alive == 1
    assert (health.queued, health.running) == (1, 1)
    assert 119 < health.oldest_queued_s < 180
    assert not check(store, max_queued_s=60).healthy  # a queue that does not move
    sweeper.stop()  # never started: stop still removes the heartbeat
    assert store.live_workers() == [] and not check(store).healthy


def test_the_sweeper_thread_beats_then_forgets_when_stopped(store: JobStore) -> None:
    sweeper = _sweeper(store)
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while not store.live_workers():  # polling for the first beat, bounded
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        sweeper.stop()
    assert not sweeper.is_alive()
    assert store.live_workers() == []


def test_a_sweep_prunes_finished_jobs_past_retention(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.submit(_job(20), LIMITS, now=time.time() - 2 * WEEK_S)
    assert jobs.claim(store, "20_1", "w", 30.0) is not None
    assert jobs.finish(store, "20_1", "w", "done")
    store.submit(_job(21), LIMITS, now=time.time() - 2 * WEEK_S)  # still queued: kept
    _sweeper(store).sweep_once()
    assert store.get("20_1") is None
    assert store.get("21_1") is not None


def test_only_our_own_job_folders_are_ever_deleted(tmp_path: Path) -> None:
    """SMASK_WORK_DIR may be shared: everything but <work>/smask-jobs/<job>-<attempt> stays."""
    store = SqliteJobStore(tmp_path / "jobs.db")
    work = tmp_path / "work"
    ours = work / JOBS_SUBDIR
    ours.mkdir(parents=True)
    foreign = [
        work / "notes.txt",
        work / "photos" / "cat.jpg",
        work / "10_1-1" / "input.bin",  # looks like a job folder, but not in ours
        ours / "README.txt",
        ours / "holiday" / "a.mp4",
        ours / "10_1-x" / "b.mp4",
        ours / "10_1-1.mp4",  # a file with a job-like name
    ]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not the bot's")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep.txt").parent.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (ours / "12_1-1").symlink_to(elsewhere, target_is_directory=True)

    store.submit(_job(10), LIMITS)  # attempt 1 ran and died; attempt 2 runs now
    assert jobs.claim(store, "10_1", "dead", lease_s=-1.0) is not None
    jobs.sweep(store, lambda _job_id: None, stale_queued_s=900)
    assert jobs.claim(store, "10_1", "alive", 30.0) is not None
    stale = job_work_dir(work, "10_1", 1)
    running = job_work_dir(work, "10_1", 2)
    gone = job_work_dir(work, "-5_c3", 1)  # a group-chat job id nobody knows any more
    for folder in (stale, running, gone):
        (folder / "input.bin").parent.mkdir(parents=True)
        (folder / "input.bin").write_bytes(b"clip")

    assert clean_work_dir(store, work) == 2
    assert not stale.exists() and not gone.exists()
    assert (running / "input.bin").exists()
    for path in foreign:
        assert path.read_text() == "not the bot's", path
    assert (elsewhere / "keep.txt").exists() and (ours / "12_1-1").is_symlink()


def test_a_score_doc_a_crash_left_behind_is_removed_once_stale(tmp_path: Path) -> None:
    """The bot deletes each score doc at once; one left by a crash goes when it is stale."""
    store = SqliteJobStore(tmp_path / "jobs.db")
    work = tmp_path / "work"
    fresh = score_doc_path(work, "7_1")
    stale = score_doc_path(work, "8_1")
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"MThd")
    stale.write_bytes(b"MThd")
    old = time.time() - SCORE_DOC_STALE_S - 60
    os.utime(stale, (old, old))
    other = fresh.parent / "keep.txt"
    other.write_text("not a score doc")
    os.utime(other, (old, old))

    assert clean_work_dir(store, work) == 1
    assert fresh.exists() and not stale.exists() and other.exists()


def test_a_work_dir_without_our_subfolder_is_left_alone(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    work = tmp_path / "shared"
    (work / "10_1-1").mkdir(parents=True)
    (work / "10_1-1" / "x").write_text("someone else's")
    _sweeper(store, work).sweep_once()
    assert (work / "10_1-1" / "x").read_text() == "someone else's"


def test_smask_health_json_and_an_unreadable_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from smask.cli import main

    monkeypatch.delenv("VK_TOKEN", raising=False)  # health needs no credentials
    monkeypatch.delenv("SMASK_REDIS_URL", raising=False)
    monkeypatch.setenv("SMASK_JOBS_PATH", str(tmp_path / "jobs.db"))
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.submit(_job(30), LIMITS)
    _sweeper(store).beat()
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] and report["workers_alive"] == 1 and report["queued"] == 1

    (tmp_path / "not-a-db").write_text("this is not SQLite")
    monkeypatch.setenv("SMASK_JOBS_PATH", str(tmp_path / "not-a-db"))
    assert main(["health"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("healthy: no\nerror: DatabaseError")


def test_smask_health_takes_its_queue_wait_limit_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The image's HEALTHCHECK is plain ``smask health``: SMASK_HEALTH_MAX_QUEUED_S sets the
    limit there; the flag still wins; a bad value is "not healthy" with a reason."""
    from smask.cli import main

    monkeypatch.delenv("VK_TOKEN", raising=False)
    monkeypatch.delenv("SMASK_REDIS_URL", raising=False)
    monkeypatch.setenv("SMASK_JOBS_PATH", str(tmp_path / "jobs.db"))
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.submit(_job(40), LIMITS, now=time.time() - 600)  # waiting 10 minutes
    _sweeper(store).beat()
    monkeypatch.setenv("SMASK_HEALTH_MAX_QUEUED_S", "300")
    assert main(["health"]) == 1
    assert "healthy: no" in capsys.readouterr().out
    assert main(["health", "--max-queued-s", "0"]) == 0  # the flag wins: off
    capsys.readouterr()
    monkeypatch.setenv("SMASK_HEALTH_MAX_QUEUED_S", "3600")
    assert main(["health"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("SMASK_HEALTH_MAX_QUEUED_S", "soon")
    assert main(["health"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("healthy: no\nerror: ") and "SMASK_HEALTH_MAX_QUEUED_S" in out


def test_wedged_job_threads_make_the_worker_stale_though_its_sweeper_beats(
    store: JobStore,
) -> None:
    """The sweeper keeps the process's record fresh; health counts the worker alive only
    while its job threads beat too (issue 26)."""
    store.submit(_job(10), LIMITS)
    sweeper = _sweeper(store)
    sweeper.pulse.job_thread_alive(now=time.time() - 3600)  # the job threads' last sign
    sweeper.sweep_once()
    assert len(store.live_workers()) == 1  # the process is there...
    health = check(store)
    assert (health.workers_alive, health.workers_wedged) == (0, 1)  # ...but wedged
    assert not health.healthy
    sweeper.pulse.job_thread_alive()  # a job thread polls the queue again...
    sweeper.beat()  # ...and the next write carries it (job threads write at most every 30 s)
    health = check(store)
    assert (health.workers_alive, health.workers_wedged) == (1, 0) and health.healthy


def test_a_consumer_thread_polling_the_queue_is_what_beats(tmp_path: Path) -> None:
    from huey import SqliteHuey

    from bot.pulse import Pulse
    from bot.queue import JobQueue

    store = SqliteJobStore(tmp_path / "jobs.db")
    pulse = Pulse(store, "w:1", {"worker": "w:1"}, every_s=1.0)
    pulse.job_thread_alive(now=time.time() - 3600)
    assert not check(store).healthy
    huey = SqliteHuey("t", filename=str(tmp_path / "q.db"), results=False)
    JobQueue(huey, lambda _job_id: None, on_poll=pulse.job_thread_alive)
    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while not check(store).healthy:  # polling for the consumer's first poll, bounded
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        consumer.stop(graceful=True)


def test_a_finished_job_still_keeping_its_take_keeps_its_folder(tmp_path: Path) -> None:
    """A job is "done" once its reply is sent, then keeps the learner's take from its folder:
    a sweep in that gap must not remove the take's audio (it once did, in CI)."""
    store = SqliteJobStore(tmp_path / "jobs.db")
    work = tmp_path / "work"
    store.submit(_job(10), LIMITS)
    assert jobs.claim(store, "10_1", "me", 30.0) is not None
    folder = job_work_dir(work, "10_1", 1)
    folder.mkdir(parents=True)
    (folder / "listen-after.ogg").write_bytes(b"OggS")
    held = workdir.hold(folder)
    assert held is not None
    try:
        assert jobs.finish(store, "10_1", "me", "done", result_message_id=5)
        assert clean_work_dir(store, work) == 0
        assert (folder / "listen-after.ogg").exists()
    finally:
        os.close(held)
    assert clean_work_dir(store, work) == 1  # let go of: a leftover like any other
    assert not folder.exists()
