"""One unreadable job row (bad JSON, a missing field, a wrong type) is quarantined, logged and
skipped: the sweep, a worker's start and `smask health` go on, and the user behind it is told
once (issue 26, defect 4). The rows are written straight into the real SQLite file or Redis."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
from fakevk import FakeVK
from fakevk.harness import WorkerProcess, make_clip, make_settings, tracker_or_skip
from fakevk.redis_server import redis_server, redis_url  # noqa: F401

from bot import jobs
from bot.health import check
from bot.jobs import QUARANTINED, Job, JobStore, SqliteJobStore, SubmitLimits
from bot.queue import JobQueue, make_huey
from bot.texts import t
from bot.worker import Sweeper

LIMITS = SubmitLimits(max_waiting_per_user=3, max_clips_per_hour=20, max_queue_length=10)
BAD_PEER = 55
BAD_ID = f"{BAD_PEER}_7"


def _good(peer: int, msg: int = 1, url: str = "https://psv4.userapi.com/c1/doc.mp4") -> Job:
    return Job(
        job_id=jobs.job_id_for(peer, msg),
        peer_id=peer,
        from_id=peer,
        message_id=msg,
        cmid=msg,
        doc_url=url,
        doc_title="take.mp4",
        doc_size=1000,
    )


def _corrupt(kind: str) -> str:
    """A row as a disk fault, a hand edit or a buggy older version might leave it."""
    data = json.loads(_good(BAD_PEER, 7).to_json())
    data["lang"] = "en"
    if kind == "bad_json":
        return '{"job_id": "' + BAD_ID + '", "lang": "en", "peer_id": 5'  # cut short
    if kind == "missing_field":
        del data["doc_url"]
    elif kind == "wrong_type":
        data["enqueued_at"] = "yesterday"  # the sweep adds seconds to it
    return json.dumps(data)


def _write_bad_row(store: JobStore, raw: str) -> None:
    if isinstance(store, SqliteJobStore):
        with sqlite3.connect(store.path) as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, from_id, state, created_at, data) VALUES (?,?,?,?,?)",
                (BAD_ID, BAD_PEER, "queued", time.time(), raw),
            )
    else:
        assert isinstance(store, jobs.RedisJobStore)
        client = store._redis
        client.set(store._k("job", BAD_ID), raw)
        client.zadd(store._k("active"), {BAD_ID: 0})
        client.zadd(store._k("user", BAD_PEER, "active"), {BAD_ID: 0})


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "sqlite":
        return SqliteJobStore(tmp_path / "jobs.db")
    return jobs.RedisJobStore(str(request.getfixturevalue("redis_url")))


@pytest.mark.parametrize("kind", ["bad_json", "missing_field", "wrong_type"])
def test_a_bad_row_is_quarantined_and_the_sweep_goes_on(
    store: JobStore, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store.submit(_good(10), LIMITS, now=time.time() - 2000)  # stale: the sweep re-enqueues it
    _write_bad_row(store, _corrupt(kind))
    store.submit(_good(11), LIMITS)
    enqueued: list[str] = []
    assert jobs.sweep(store, enqueued.append, 900.0) == ["10_1"]
    assert enqueued == ["10_1"]
    assert [j.job_id for j in store.active()] == ["10_1", "11_1"]
    assert store.get(BAD_ID) is None and jobs.claim(store, BAD_ID, "w", 30.0) is None
    assert [j.job_id for j in store.for_user(BAD_PEER)] == []
    assert store.quarantined_count() == 1
    assert f"job {BAD_ID}: its stored row is unreadable" in caplog.text
    health = check(store)
    assert (health.queued, health.quarantined) == (2, 1)
    # The user is told once, however many workers look (and restart) afterwards.
    (notice,) = store.take_quarantine_notices()
    assert (notice.job_id, notice.peer_id) == (BAD_ID, BAD_PEER)
    assert notice.lang == ("" if kind == "bad_json" else "en")
    jobs.sweep(store, enqueued.append, 900.0)
    assert store.take_quarantine_notices() == []
    # Resending the same message is "already a job", never a crash on the unique id.
    result = store.submit(_good(BAD_PEER, 7), LIMITS)
    assert result.job is None and not result.created and not result.refused
    if isinstance(store, SqliteJobStore):  # the raw row stays for the operator to read
        with sqlite3.connect(store.path) as conn:
            (state,) = conn.execute("SELECT state FROM jobs WHERE job_id = ?", (BAD_ID,)).fetchone()
        assert state == QUARANTINED


def test_a_row_whose_data_names_another_job_is_quarantined(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.submit(_good(10), LIMITS)
    _write_bad_row(store, _good(10).to_json())  # saving it would overwrite job 10_1
    assert [j.job_id for j in store.active()] == ["10_1"]
    assert store.quarantined_count() == 1


def test_smask_health_succeeds_with_a_bad_row_present(
    store: JobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    if isinstance(store, SqliteJobStore):
        monkeypatch.setenv("SMASK_JOBS_PATH", str(store.path))
        monkeypatch.delenv("SMASK_REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("SMASK_REDIS_URL", store_url(store))
    monkeypatch.delenv("VK_TOKEN", raising=False)
    store.submit(_good(10), LIMITS)
    _write_bad_row(store, _corrupt("bad_json"))
    Sweeper(store, lambda _j: None, interval_s=30.0, stale_queued_s=900.0).beat()
    assert main(["health", "--json"]) == 0, capsys.readouterr().out
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] and report["queued"] == 1 and report["quarantined"] == 1


def store_url(store: JobStore) -> str:
    assert isinstance(store, jobs.RedisJobStore)
    kwargs = store._redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


async def test_a_worker_starts_over_a_bad_row_does_the_next_job_and_tells_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real worker process, started twice over a damaged row: it stays up, answers the
    good clips, and the damaged row's user gets one message in all."""
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    fake = await FakeVK(group_id=77).start()
    settings = make_settings(tmp_path, fake)
    store = jobs.make_store(settings)
    queue = JobQueue(make_huey(settings))
    url = fake.add_file("c.mp4", make_clip(tmp_path / "c.mp4", f0_hz=452.0).read_bytes())
    _write_bad_row(store, _corrupt("wrong_type"))
    queue.enqueue(BAD_ID)  # its doorbell too: a worker must not choke on the claim either
    logs = tmp_path / "worker.log"
    try:
        for msg in (1, 2):  # the second run is a restart over the same store
            job = _good(60, msg, url)
            job.doc_size = 0
            assert store.submit(job, LIMITS).created
            # our "queued" message, which the worker edits after it recorded the outcome
            jobs.set_reply_message(store, job.job_id, 1)
            queue.enqueue(job.job_id)
            worker = WorkerProcess(settings, tmp_path / "w", logs).start()
            try:
                await fake.wait_for(lambda j=job: _finished(store, j.job_id), timeout_s=120)
            finally:
                assert await asyncio.to_thread(worker.stop) == 0, logs.read_text()[-3000:]
    finally:
        await fake.stop()
    for msg in (1, 2):
        done = store.get(f"60_{msg}")
        assert done is not None and done.state == "done", logs.read_text()[-3000:]
    told = [c for c in fake.calls_of("messages.send") if int(c["peer_id"]) == BAD_PEER]
    assert [c["message"] for c in told] == [t("error_job_unreadable", "en")]
    text = logs.read_text()
    assert f"job {BAD_ID}: its stored row is unreadable" in text
    assert f"job {BAD_ID}: quarantined; told chat {BAD_PEER}" in text
    assert settings.vk_token not in text


def _finished(store: JobStore, job_id: str) -> bool:
    job = store.get(job_id)
    return job is not None and job.state in jobs.FINAL_STATES
