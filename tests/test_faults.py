"""Nothing lost, nothing twice: 50 clips and voice messages from 10 users through crashes
and a flaky VK.

While the clips go through, the worker process is SIGKILLed twice in the middle of a job, the
bot is restarted once (with messages arriving while it is down), 10% of VK method calls are
answered with error 6, 9 or 10 (an error 10 on messages.send after the message was posted),
and every long-poll event is delivered twice. A third of the messages are voice messages,
answered with a voice message and a summary. Every message must get exactly one answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sys
import time
from pathlib import Path

import pytest
from fakevk import FakeVK, audio_message_attachment, doc_attachment
from fakevk.harness import (
    REPO,
    WorkerProcess,
    make_clip,
    make_settings,
    running_bot,
    settings_env,
    tracker_or_skip,
)
from fakevk.redis_server import redis_server, redis_url  # noqa: F401
from media_factory import make_audio, tone_expression

from bot import jobs
from bot.jobs import random_id_for
from bot.supervise import WorkerSupervisor
from bot.texts import t
from bot.workdir import JOBS_SUBDIR
from bot.worker import MAX_ATTEMPTS

pytestmark = pytest.mark.slow

USERS = 10
CLIPS_PER_USER = 5


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("redis_url"))


async def test_fifty_clips_survive_kills_restart_vk_errors_and_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str | None
) -> None:
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)  # vkbottle's long-poll state (./.vkbottle/) lives here
    fake = await FakeVK(group_id=77, seed=6).start()
    fake.error_rate = 0.10
    fake.error_codes = (6, 9, 10)
    fake.duplicate_events = True
    settings = make_settings(
        tmp_path,
        fake,
        redis_url=backend,
        lease_s=4.0,
        sweep_interval_s=0.5,
        stale_queued_s=15.0,
        max_waiting_per_user=CLIPS_PER_USER,
        max_clips_per_hour=100,
        workers=2,
    )
    clip = make_clip(tmp_path / "short.mp4", f0_hz=452.0, seconds=1.0, size="64x48")
    data = clip.read_bytes()
    voice_data = make_audio(
        tmp_path / "voice.ogg", "ogg_opus", expression=tone_expression([(452.0, 1.0)]),
        duration_s=1.0, sample_rate=48000,
    ).read_bytes()  # fmt: skip
    messages = [(1000 + u, 10 + c) for c in range(CLIPS_PER_USER) for u in range(USERS)]
    voices = {m for m in messages if sum(m) % 3 == 0}

    async def send(peer: int, msg: int) -> None:
        if (peer, msg) in voices:
            url = fake.add_file(f"{peer}_{msg}.ogg", voice_data)
            attachment = audio_message_attachment(url)
        else:
            url = fake.add_file(f"{peer}_{msg}.mp4", data)
            attachment = doc_attachment(url, size=len(data))
        await fake.push_message(peer_id=peer, message_id=msg, attachments=[attachment])

    def downloads() -> int:
        return sum(fake.file_hits.values())

    def answered() -> int:
        return sum(
            1
            for peer, msg in messages
            if any(m.random_id == random_id_for(f"{peer}_{msg}", "result")
                   for m in fake.replies_to(peer, msg))
        )  # fmt: skip

    logs = tmp_path / "worker.log"
    worker = WorkerProcess(settings, tmp_path / "w", logs).start()
    try:
        async with running_bot(settings, fake):
            for peer, msg in messages[:25]:
                await send(peer, msg)
            # kill the worker twice while it holds a job (a download has started, none answered)
            for kill in range(2):
                floor = downloads()

                def another_download(f: int = floor) -> bool:
                    return downloads() > f

                await fake.wait_for(another_download, timeout_s=120)
                await asyncio.to_thread(worker.kill)
                worker = WorkerProcess(settings, tmp_path / f"w{kill}", logs).start()
        # the bot is down: these arrive meanwhile and must be picked up after the restart
        for peer, msg in messages[25:30]:
            await send(peer, msg)
        async with running_bot(settings, fake):
            for peer, msg in messages[30:]:
                await send(peer, msg)
            await fake.wait_for(lambda: answered() == len(messages), timeout_s=400)
    finally:
        code = await asyncio.to_thread(worker.stop)
        await fake.stop()
    assert code == 0, logs.read_text()[-3000:]

    store = jobs.make_store(settings)
    states = {}
    attempts = 0
    for peer, msg in messages:
        job_id = f"{peer}_{msg}"
        replies = fake.replies_to(peer, msg)
        results = [m for m in replies if m.random_id == random_id_for(job_id, "result")]
        assert len(results) == 1, (job_id, replies)
        assert results[0].attachment.startswith("doc-77_")
        assert not [m for m in replies if m.random_id == random_id_for(job_id, "error")]
        if (peer, msg) in voices:  # the voice message, then its summary: each exactly once
            reports = [m for m in replies if m.random_id == random_id_for(job_id, "report")]
            assert len(reports) == 1 and "photo" in reports[0].attachment, (job_id, replies)
            assert len(replies) <= 3
        else:
            assert len(replies) <= 2  # the "queued" acknowledgement and the answer, nothing else
        job = store.get(job_id)
        assert job is not None
        states[job_id] = job.state
        attempts += job.attempts
    assert set(states.values()) == {"done"}
    assert 10 <= len(voices) <= 25
    voice_uploads = [c for c in fake.calls_of("docs.getMessagesUploadServer")
                     if c.get("type") == "audio_message"]  # fmt: skip
    assert len(voice_uploads) >= len(voices)
    # the faults really happened
    assert attempts >= len(messages) + 2, "the two SIGKILLs should each have cost a re-run"
    assert fake.errors_injected >= 10
    sends = fake.calls_of("messages.send")
    assert len(sends) > len({(s["peer_id"], s["random_id"]) for s in sends})  # retried sends
    log_text = logs.read_text()
    assert "re-enqueued" in log_text  # the sweeper handed the killed jobs back
    assert settings.vk_token not in log_text
    scratch = settings.work_dir / JOBS_SUBDIR
    leftovers = list(scratch.iterdir()) if scratch.exists() else []
    assert leftovers == []  # the killed attempts' scratch directories were swept too


async def test_a_job_longer_than_its_lease_keeps_it_by_renewing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat renews the lease, so a slow job is never handed to a second worker."""
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    fake = await FakeVK(group_id=77).start()
    settings = make_settings(tmp_path, fake, lease_s=0.9, sweep_interval_s=0.1, workers=2)
    clip = make_clip(tmp_path / "long.mp4", f0_hz=452.0, seconds=20.0, size="64x48")
    url = fake.add_file("long.mp4", clip.read_bytes())
    logs = tmp_path / "worker.log"
    worker = WorkerProcess(settings, tmp_path / "w", logs).start()
    try:
        async with running_bot(settings, fake):
            await fake.push_message(
                peer_id=70, message_id=1, attachments=[doc_attachment(url, size=1000)]
            )
            result_id = random_id_for("70_1", "result")
            await fake.wait_for(
                lambda: any(m.random_id == result_id for m in fake.replies_to(70, 1)),
                timeout_s=180,
            )
    finally:
        exit_code = await asyncio.to_thread(worker.stop)
        await fake.stop()
    assert exit_code == 0
    job = jobs.make_store(settings).get("70_1")
    assert job is not None and job.state == "done"
    assert job.attempts == 1, logs.read_text()[-2000:]
    # one worker attempt (the bot itself may fetch a small doc once, to see if it is a score)
    assert len(re.findall(r"job 70_1: attempt \d+ by ", logs.read_text())) == 1
    assert "re-enqueued" not in logs.read_text()


async def test_cancel_stops_a_running_job_at_the_next_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    fake = await FakeVK(group_id=77).start()
    settings = make_settings(tmp_path, fake)
    clip = make_clip(tmp_path / "long.mp4", f0_hz=452.0, seconds=40.0, size="64x48")
    url = fake.add_file("long.mp4", clip.read_bytes())
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()
    analysing = t("stage_analysing", "ru")
    try:
        async with running_bot(settings, fake):
            await fake.push_message(
                peer_id=80, message_id=1, attachments=[doc_attachment(url, size=1000)]
            )
            await fake.wait_for(
                lambda: any(analysing in m.edits for m in fake.replies_to(80, 1)), timeout_s=120
            )
            await fake.push_message(peer_id=80, message_id=2, text="/cancel")
            await fake.wait_for(
                lambda: any(t("cancelled_ack", "ru") in m.edits for m in fake.replies_to(80, 1)),
                timeout_s=120,
            )
    finally:
        exit_code = await asyncio.to_thread(worker.stop)
        await fake.stop()
    assert exit_code == 0
    (cancel_reply,) = fake.replies_to(80, 2)
    assert cancel_reply.text == t("cancel_done", "ru", count=1)
    (ack,) = fake.replies_to(80, 1)  # no result was posted
    assert ack.edits[-1] == t("cancelled_ack", "ru")
    assert not fake.calls_of("docs.save")
    job = jobs.make_store(settings).get("80_1")
    assert job is not None and job.state == "cancelled"


async def test_a_voice_message_killed_mid_job_is_answered_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL while the worker holds the voice job, events delivered twice: one voice, one
    summary, and the job re-run by the next worker."""
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    fake = await FakeVK(group_id=77).start()
    fake.duplicate_events = True
    settings = make_settings(tmp_path, fake, lease_s=3.0, sweep_interval_s=0.3)
    voice = make_audio(
        tmp_path / "voice.ogg", "ogg_opus", expression=tone_expression([(452.0, 20.0)]),
        duration_s=20.0, sample_rate=48000,
    )  # fmt: skip
    url = fake.add_file("voice.ogg", voice.read_bytes())
    logs = tmp_path / "worker.log"
    worker = WorkerProcess(settings, tmp_path / "w", logs).start()
    try:
        async with running_bot(settings, fake):
            await fake.push_message(
                peer_id=90, message_id=1, attachments=[audio_message_attachment(url)]
            )
            await fake.wait_for(lambda: fake.file_hits.get("voice.ogg", 0) >= 1, timeout_s=120)
            await asyncio.to_thread(worker.kill)  # mid-job: downloaded, not yet answered
            assert not fake.calls_of("docs.save")
            worker = WorkerProcess(settings, tmp_path / "w2", logs).start()
            report_id = random_id_for("90_1", "report")
            await fake.wait_for(
                lambda: any(m.random_id == report_id for m in fake.replies_to(90, 1)),
                timeout_s=240,
            )
    finally:
        code = await asyncio.to_thread(worker.stop)
        await fake.stop()
    assert code == 0, logs.read_text()[-3000:]
    replies = fake.replies_to(90, 1)
    by_purpose = {
        p: [m for m in replies if m.random_id == random_id_for("90_1", p)]
        for p in ("ack", "result", "report", "error")
    }
    assert [len(by_purpose[p]) for p in ("ack", "result", "report", "error")] == [1, 1, 1, 0]
    assert by_purpose["result"][0].attachment.startswith("doc-77_")
    assert len(replies) == 3
    job = jobs.make_store(settings).get("90_1")
    assert job is not None and job.state == "done" and job.attempts == 2
    assert fake.file_hits["voice.ogg"] == 2  # the second worker fetched it again


async def test_a_clip_that_kills_every_worker_is_given_up_and_the_others_get_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker dies (SIGKILL, as in an OOM kill) each time it touches one clip.

    The real supervisor restarts the real worker process (fakevk/crashing_worker.py kills
    itself on the clip's digest); the attempts counted at each claim reach MAX_ATTEMPTS, the
    next claim fails the job and tells its user once, in English as they asked, and frees
    their slot. One worker thread, so that only the poison clip's own attempts die with it.
    """
    tracker_or_skip()
    caplog.set_level(logging.INFO, logger="smask.supervisor")
    monkeypatch.chdir(tmp_path)
    fake = await FakeVK(group_id=77).start()
    settings = make_settings(
        tmp_path, fake, lease_s=3.0, sweep_interval_s=0.3, stale_queued_s=10.0, workers=1
    )
    poison = make_clip(tmp_path / "poison.mp4", f0_hz=300.0, seconds=1.0, size="64x48")
    good = make_clip(tmp_path / "good.mp4", f0_hz=452.0, seconds=1.0, size="64x48")
    env = settings_env(settings)
    env["SMASK_TEST_CRASH_DIGEST"] = hashlib.sha256(poison.read_bytes()).hexdigest()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the children's output, closed below
    supervisor = WorkerSupervisor(
        [sys.executable, "-m", "fakevk.crashing_worker"],
        env,
        max_deaths=10,
        window_s=600.0,
        backoff_s=0.2,
        output=log,
    )
    good_users = (301, 302, 303)
    store = jobs.make_store(settings)

    def settled() -> bool:
        crashed = store.get("300_2")
        return (
            crashed is not None
            and crashed.state == "failed"
            and all(
                (j := store.get(f"{u}_1")) is not None and j.state == "done" for u in good_users
            )
        )

    supervisor.start()
    try:
        async with running_bot(settings, fake):
            await fake.push_message(peer_id=300, message_id=1, text="/lang en")
            await fake.wait_for(lambda: bool(fake.replies_to(300, 1)), timeout_s=30)
            url = fake.add_file("poison.mp4", poison.read_bytes())
            await fake.push_message(
                peer_id=300, message_id=2, attachments=[doc_attachment(url, size=1000)]
            )
            for user in good_users:
                url = fake.add_file(f"good{user}.mp4", good.read_bytes())
                await fake.push_message(
                    peer_id=user, message_id=1, attachments=[doc_attachment(url, size=1000)]
                )
            deadline = time.monotonic() + 400
            while not settled():  # polling the job table, bounded by the deadline
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                assert not supervisor.gave_up, log_path.read_text()[-3000:]
                await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(supervisor.stop)
        log.close()
        await fake.stop()

    crashed = store.get("300_2")
    assert crashed is not None and crashed.error_code == "worker_crashed"
    assert crashed.attempts == MAX_ATTEMPTS + 1  # the last claim gave up instead of running it
    text = log_path.read_text()
    # every attempt that ran touched the clip, and each of them killed its worker
    assert len(re.findall(r"job 300_2: attempt \d+ by ", text)) == MAX_ATTEMPTS
    assert supervisor.restarts == MAX_ATTEMPTS
    assert caplog.text.count("died: killed by SIGKILL") == MAX_ATTEMPTS
    replies = fake.replies_to(300, 2)
    errors = [m for m in replies if m.random_id == random_id_for("300_2", "error")]
    assert [m.text for m in errors] == [t("error_worker_crashed", "en")]
    assert not [m for m in replies if m.random_id == random_id_for("300_2", "result")]
    (ack,) = [m for m in replies if m.random_id == random_id_for("300_2", "ack")]
    assert ack.current_text == t("failed_ack", "en")
    assert store.for_user(300) == [] and store.active() == []  # the slots are free again
    for user in good_users:
        results = [
            m
            for m in fake.replies_to(user, 1)
            if m.random_id == random_id_for(f"{user}_1", "result")
        ]
        assert len(results) == 1
    assert "claimed 3 times without finishing" in text
    assert settings.vk_token not in text
