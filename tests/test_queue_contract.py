"""One contract for the job table and the queue, run on each backend (SQLite, Redis).

Like huey's own StorageTests: the tests are written once and a fixture swaps the backend.
"""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fakevk.redis_server import redis_server, redis_url  # noqa: F401

from bot import jobs
from bot.jobs import Job, JobStore, SqliteJobStore, SubmitLimits
from bot.prefs import SqlitePrefsStore, UserPrefs
from bot.queue import JobQueue, make_huey
from bot.settings import Settings

LIMITS = SubmitLimits(max_waiting_per_user=3, max_clips_per_hour=5, max_queue_length=10)


def _settings(tmp_path: Path, redis: str | None) -> Settings:
    return Settings(
        vk_token="t",
        group_id=1,
        redis_url=redis,
        queue_path=tmp_path / "q.db",
        jobs_path=tmp_path / "jobs.db",
    )


@pytest.fixture(params=["sqlite", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    redis = None if request.param == "sqlite" else request.getfixturevalue("redis_url")
    return _settings(tmp_path, redis)


@pytest.fixture
def store(settings: Settings) -> Iterator[JobStore]:
    s = jobs.make_store(settings)
    yield s
    s.close()


def _job(peer: int, msg: int, *, user: int | None = None) -> Job:
    return Job(
        job_id=jobs.job_id_for(peer, msg),
        peer_id=peer,
        from_id=peer if user is None else user,
        message_id=msg,
        cmid=msg,
        doc_url="https://psv4.userapi.com/c1/doc.mp4",
        doc_title="take.mp4",
        doc_size=1000,
    )


def test_submit_is_idempotent_on_peer_and_message(store: JobStore) -> None:
    first = store.submit(_job(10, 1), LIMITS)
    again = store.submit(_job(10, 1), LIMITS)
    assert first.created and not again.created and not again.refused
    assert again.job is not None and again.job.job_id == "10_1"
    assert [j.job_id for j in store.active()] == ["10_1"]


def test_positions_follow_submission_order(store: JobStore) -> None:
    positions = [store.submit(_job(20 + i, 1), LIMITS).position for i in range(3)]
    assert positions == [1, 2, 3]
    head = store.get("20_1")
    assert head is not None
    assert jobs.finish(store, "20_1", "nobody", "done") is False  # not claimed: not finishable
    assert jobs.claim(store, "20_1", "w", 30.0) is not None
    assert jobs.finish(store, "20_1", "w", "done")
    third = store.get("22_1")
    assert third is not None and store.position(third) == 2


@pytest.mark.parametrize(
    ("limits", "refusal"),
    [
        (replace(LIMITS, max_waiting_per_user=2), "user_waiting"),
        (replace(LIMITS, max_clips_per_hour=2, max_waiting_per_user=9), "user_hourly"),
        (replace(LIMITS, max_queue_length=2), "queue_full"),
    ],
)
def test_limits_refuse_politely(store: JobStore, limits: SubmitLimits, refusal: str) -> None:
    for msg in (1, 2):
        job = store.submit(_job(30, msg), limits).job
        if refusal == "user_hourly":  # finished jobs still count for the hourly limit
            assert job is not None and jobs.claim(store, job.job_id, "w", 30.0)
            assert jobs.finish(store, job.job_id, "w", "done")
    result = store.submit(_job(30, 3), limits)
    assert result.refused == refusal and result.job is None and not result.created
    assert store.get("30_3") is None
    if refusal != "queue_full":  # another user is not affected by one user's limit
        assert store.submit(_job(31, 1), limits).created


def test_claim_is_exclusive_under_contention(store: JobStore) -> None:
    store.submit(_job(40, 1), LIMITS)
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contender(name: str) -> None:
        barrier.wait()
        if jobs.claim(store, "40_1", name, 30.0) is not None:
            winners.append(name)

    threads = [threading.Thread(target=contender, args=(f"w{i}",)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(winners) == 1
    job = store.get("40_1")
    assert job is not None and job.state == "running" and job.worker == winners[0]
    assert job.attempts == 1


def test_expired_lease_is_swept_and_taken_over(store: JobStore) -> None:
    store.submit(_job(50, 1), LIMITS)
    assert jobs.claim(store, "50_1", "dead", lease_s=-1.0) is not None  # lease already expired
    enqueued: list[str] = []
    assert jobs.sweep(store, enqueued.append, stale_queued_s=3600) == ["50_1"]
    assert enqueued == ["50_1"]
    taken = jobs.claim(store, "50_1", "alive", 30.0)
    assert taken is not None and taken.attempts == 2
    assert not jobs.renew(store, "50_1", "dead", 30.0)  # the dead worker lost its lease
    assert not jobs.finish(store, "50_1", "dead", "done")
    assert jobs.sweep(store, enqueued.append, stale_queued_s=3600) == []  # live lease: untouched
    assert jobs.finish(store, "50_1", "alive", "done")
    assert jobs.claim(store, "50_1", "late", 30.0) is None  # done is final


def test_lost_queue_message_is_resent(store: JobStore) -> None:
    store.submit(_job(55, 1), LIMITS, now=time.time() - 100)
    enqueued: list[str] = []
    assert jobs.sweep(store, enqueued.append, stale_queued_s=50) == ["55_1"]
    assert jobs.sweep(store, enqueued.append, stale_queued_s=50) == []  # enqueued_at refreshed


def test_cancel_queued_and_running(store: JobStore) -> None:
    store.submit(_job(60, 1, user=6), LIMITS)
    store.submit(_job(60, 2, user=6), LIMITS)
    assert jobs.claim(store, "60_1", "w", 30.0) is not None
    cancelled, flagged = jobs.cancel_for_user(store, 6)
    assert [j.job_id for j in cancelled] == ["60_2"]
    assert [j.job_id for j in flagged] == ["60_1"]
    assert jobs.claim(store, "60_2", "w2", 30.0) is None
    running = store.get("60_1")
    assert running is not None and running.cancel_requested and running.state == "running"
    assert [j.job_id for j in store.for_user(6)] == ["60_1"]


def test_attempts_are_counted_at_claim_so_a_dying_worker_still_counts(store: JobStore) -> None:
    """A worker killed mid-job never records its failure; the claim already counted it."""
    store.submit(_job(52, 1), LIMITS)
    for attempt in range(1, 4):
        claimed = jobs.claim(store, "52_1", f"doomed{attempt}", lease_s=-1.0)  # dies at once
        assert claimed is not None and claimed.attempts == attempt
        assert jobs.sweep(store, lambda _job_id: None, stale_queued_s=3600) == ["52_1"]
    fourth = jobs.claim(store, "52_1", "survivor", 30.0)
    assert fourth is not None and fourth.attempts == 4  # the worker gives up on it (worker.py)


def test_heartbeats_expire_and_are_forgotten(store: JobStore) -> None:
    assert store.live_workers() == []
    store.beat("h:1", {"worker": "h:1", "pid": 1}, ttl_s=60.0)
    store.beat("h:2", {"worker": "h:2", "pid": 2}, ttl_s=60.0)
    store.beat("h:1", {"worker": "h:1", "pid": 1, "beat_at": 5.0}, ttl_s=60.0)  # a later beat
    assert store.live_workers() == [
        {"worker": "h:1", "pid": 1, "beat_at": 5.0},
        {"worker": "h:2", "pid": 2},
    ]
    store.forget("h:2")
    assert [w["worker"] for w in store.live_workers()] == ["h:1"]
    store.beat("h:1", {"worker": "h:1"}, ttl_s=-1.0)  # its last beat is already out of date
    assert store.live_workers() == []


def test_pruning_keeps_active_and_recent_jobs(store: JobStore) -> None:
    """prune() never touches a queued or running job, however old, nor a recent finished one."""
    week = 7 * 24 * 3600.0
    store.submit(_job(90, 1), LIMITS, now=time.time() - 2 * week)  # queued for two weeks
    store.submit(_job(91, 1), LIMITS, now=time.time() - 2 * week)
    assert jobs.claim(store, "91_1", "w", 30.0) is not None  # running
    store.submit(_job(92, 1), LIMITS)
    assert jobs.claim(store, "92_1", "w", 30.0) is not None
    assert jobs.finish(store, "92_1", "w", "done")  # finished today
    assert store.prune(time.time() - week) == 0
    assert [j.job_id for j in store.active()] == ["90_1", "91_1"]
    done = store.get("92_1")
    assert done is not None and done.state == "done"


def test_sqlite_prunes_finished_jobs_past_retention(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    week = 7 * 24 * 3600.0
    for n, state in enumerate(("done", "failed", "cancelled")):
        store.submit(_job(93 + n, 1), LIMITS, now=time.time() - 2 * week)
        assert jobs.claim(store, f"{93 + n}_1", "w", 30.0) is not None
        assert jobs.finish(store, f"{93 + n}_1", "w", state)
    store.submit(_job(96, 1), LIMITS)
    assert jobs.claim(store, "96_1", "w", 30.0) is not None
    assert jobs.finish(store, "96_1", "w", "done")
    assert store.prune(time.time() - week) == 3
    assert [store.get(f"{n}_1") for n in (93, 94, 95)] == [None, None, None]
    assert store.get("96_1") is not None
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_redis_keys_expire_and_legacy_keys_get_a_ttl(request: pytest.FixtureRequest) -> None:
    import redis

    url = str(request.getfixturevalue("redis_url"))
    client = redis.Redis.from_url(url)
    retention = 2 * 24 * 3600.0
    store = jobs.RedisJobStore(url, retention_s=retention)
    store.submit(_job(97, 1, user=9), LIMITS)
    recent_ttl = client.ttl("smask:user:9:recent")
    assert 3600 < recent_ttl <= 3660  # the hourly window, then it goes
    assert client.ttl("smask:job:97_1") == -1  # active: kept
    assert jobs.claim(store, "97_1", "w", 30.0) is not None
    assert jobs.finish(store, "97_1", "w", "done")
    assert retention - 60 < client.ttl("smask:job:97_1") <= retention
    assert client.exists("smask:user:9:active") == 0  # empty sets vanish
    store.beat("h:1", {"worker": "h:1"}, ttl_s=90.0)
    assert 0 < client.ttl("smask:worker:h:1") <= 90

    # keys written by a version without TTLs: an old finished job, a recent one, a zset
    old = replace(_job(98, 1), state="done", created_at=time.time() - 3 * retention)
    new = replace(_job(99, 1), state="failed", created_at=time.time() - 3600)
    client.set("smask:job:98_1", old.to_json())
    client.set("smask:job:99_1", new.to_json())
    client.zadd("smask:user:8:recent", {"98_1": old.created_at})
    assert store.prune(time.time() - retention) == 1
    assert store.get("98_1") is None
    assert retention - 3700 < client.ttl("smask:job:99_1") <= retention - 3500
    assert 0 < client.ttl("smask:user:8:recent") <= 3660
    assert client.ttl("smask:seq") == -1  # the id counter must live on
    store.close()


def test_reply_message_is_remembered(store: JobStore) -> None:
    store.submit(_job(70, 1), LIMITS)
    jobs.set_reply_message(store, "70_1", 12345)
    job = store.get("70_1")
    assert job is not None and job.reply_message_id == 12345


def test_jobs_survive_a_restart(settings: Settings) -> None:
    first = jobs.make_store(settings)
    first.submit(_job(80, 1), LIMITS)
    first.close()
    second = jobs.make_store(settings)
    job = second.get("80_1")
    assert job is not None and job.state == "queued"
    second.close()


def test_queue_delivers_each_enqueued_job_to_a_real_consumer(settings: Settings) -> None:
    seen: list[str] = []
    all_seen = threading.Event()

    def handler(job_id: str) -> None:
        seen.append(job_id)
        if len(seen) == 5:
            all_seen.set()

    queue = JobQueue(make_huey(settings), handler=handler)
    queue.flush()
    for i in range(5):
        queue.enqueue(f"job{i}")
    assert queue.pending() == 5
    consumer = queue.huey.create_consumer(
        workers=2, worker_type="thread", periodic=False, initial_delay=0.01, max_delay=0.05
    )
    consumer.scheduler.start()
    for _, worker in consumer.worker_threads:
        worker.start()
    try:
        assert all_seen.wait(30)
    finally:
        consumer.stop(graceful=True)
    assert sorted(seen) == [f"job{i}" for i in range(5)]
    assert queue.pending() == 0


def test_random_ids_are_stable_distinct_and_int31() -> None:
    ack = jobs.random_id_for("5_1", "ack")
    assert ack == jobs.random_id_for("5_1", "ack")
    assert len({ack, jobs.random_id_for("5_1", "result"), jobs.random_id_for("5_2", "ack")}) == 3
    assert 0 < ack < 2**31


def test_chat_messages_key_on_conversation_message_id() -> None:
    assert jobs.job_id_for(2000000001, 0, 77) == "2000000001_c77"


def test_prefs_roundtrip(tmp_path: Path) -> None:
    prefs = SqlitePrefsStore(tmp_path / "p.db", default_lang="ru")
    assert prefs.get(1) == UserPrefs(lang="ru")
    prefs.put(1, UserPrefs(lang="en", key="D", scale="minor", a4_hz=442.0, mode="hard"))
    assert SqlitePrefsStore(tmp_path / "p.db").get(1).a4_hz == 442.0


def test_sqlite_store_works_from_many_processes_files(tmp_path: Path) -> None:
    # Two store objects on one file behave as two processes would (a connection per call).
    a, b = SqliteJobStore(tmp_path / "j.db"), SqliteJobStore(tmp_path / "j.db")
    a.submit(_job(90, 1), LIMITS)
    assert jobs.claim(b, "90_1", "wb", 30.0) is not None
    assert jobs.claim(a, "90_1", "wa", 30.0) is None


def test_sqlite_reads_do_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """/status and progress reads must not queue behind a writer (nor block renewals)."""
    store = SqliteJobStore(tmp_path / "j.db")
    submitted = store.submit(_job(91, 1), LIMITS).job
    assert submitted is not None
    writer = sqlite3.connect(tmp_path / "j.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a change
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            reads = pool.submit(
                lambda: (store.get("91_1"), store.active(), store.position(submitted))
            )
            try:
                got, active, position = reads.result(timeout=10.0)
            finally:
                writer.execute("ROLLBACK")  # lets a blocked read finish before the pool joins
    finally:
        writer.close()
    assert got is not None and got.state == "queued"
    assert [j.job_id for j in active] == ["91_1"] and position == 1


def test_a_job_written_by_a_newer_version_still_reads() -> None:
    """Rolling upgrade on one Redis: a field this version does not know is ignored."""
    job = _job(5, 1)
    raw = json.loads(job.to_json())
    raw["added_in_a_later_version"] = {"anything": 1}
    assert Job.from_json(json.dumps(raw)) == job
