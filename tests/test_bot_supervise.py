"""A dead embedded worker is noticed: restarted with back-off, and given up on when it keeps dying.

The end-to-end test runs the real ``smask bot`` (``python -m bot bot``) against the fake VK,
SIGKILLs its worker child (found through the heartbeat it writes) and checks that a clip is
still answered; a second death within the window makes the bot exit 1, so systemd or Docker
restart the whole service. ``smask health`` is run beside it, before and while it works.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import (
    TOKEN,
    make_clip,
    make_settings,
    service_process,
    settings_env,
    tracker_or_skip,
)

from bot.jobs import SqliteJobStore, random_id_for
from bot.supervise import WorkerSupervisor, describe_exit


def test_exits_are_described_in_words() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"


def _until_given_up(cmd: list[str], max_deaths: int) -> WorkerSupervisor:
    """Supervise ``cmd`` with a tiny back-off and wait until the supervisor gives up."""
    gave_up = threading.Event()
    supervisor = WorkerSupervisor(
        cmd,
        os.environ,
        max_deaths=max_deaths,
        window_s=60.0,
        backoff_s=0.01,
        on_give_up=gave_up.set,
    )
    supervisor.start()
    assert gave_up.wait(60)
    supervisor.join(10)
    assert supervisor.gave_up
    return supervisor


def test_a_child_that_keeps_dying_is_given_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smask.supervisor")
    supervisor = _until_given_up([sys.executable, "-c", "raise SystemExit(3)"], max_deaths=3)
    assert supervisor.restarts == 2
    assert caplog.text.count("died: exit code 3; restarting in") == 2
    assert "3 deaths within 60 s, giving up" in caplog.text


def test_a_worker_that_cannot_even_start_is_a_death_not_a_dead_supervisor(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Popen failing (ENOMEM/EAGAIN after an OOM kill; here: no such program) counts as a
    death, so the back-off and the give-up still happen instead of the thread dying."""
    caplog.set_level(logging.INFO, logger="smask.supervisor")
    supervisor = _until_given_up([str(tmp_path / "no-such-worker")], max_deaths=2)
    assert supervisor.restarts == 0
    assert caplog.text.count("embedded worker could not be started") == 2
    assert "2 deaths within 60 s, giving up" in caplog.text


def test_stop_ends_the_child_without_a_restart() -> None:
    supervisor = WorkerSupervisor(
        [sys.executable, "-c", "import time; time.sleep(60)"], os.environ, backoff_s=0.01
    )
    supervisor.start()
    deadline = time.monotonic() + 30
    while supervisor.pid is None:  # polling for the child, bounded
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    supervisor.stop(timeout_s=30)
    supervisor.join(10)
    assert not supervisor.is_alive()
    assert supervisor.restarts == 0 and not supervisor.gave_up
    assert time.monotonic() - started < 30  # SIGINT ended it, not the kill after the timeout


def _health(env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "smask", "health"], env=env, capture_output=True, timeout=120
    )
    return done.returncode, done.stdout.decode()


async def _until(condition: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``condition`` (job table or heartbeat), bounded; fail early if the bot died."""
    deadline = time.monotonic() + 180
    while not condition():
        assert proc.poll() is None or condition(), log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        await asyncio.sleep(0.05)


async def test_smask_bot_restarts_a_killed_worker_and_gives_up_when_it_keeps_dying(
    fake: FakeVK, tmp_path: Path
) -> None:
    tracker_or_skip()
    settings = make_settings(tmp_path, fake, sweep_interval_s=0.5)
    env = settings_env(settings)
    env.update(
        {
            "SMASK_WORKER_MAX_DEATHS": "2",
            "SMASK_WORKER_DEATH_WINDOW_S": "600",
            "SMASK_WORKER_RESTART_BACKOFF_S": "0.2",
        }
    )
    code, out = _health(env)
    assert code == 1 and "workers alive: 0" in out, out  # nothing runs yet

    store = SqliteJobStore(settings.jobs_path)

    def worker_pids() -> set[int]:
        return {int(w["pid"]) for w in store.live_workers()}

    log_path = tmp_path / "service.log"
    async with service_process(fake, env, tmp_path, log_path) as proc:
        await _until(lambda: bool(worker_pids()), proc, log_path)
        (first,) = worker_pids()
        code, out = _health(env)
        assert code == 0 and "workers alive: 1" in out and "queued: 0" in out, out

        os.kill(first, signal.SIGKILL)
        await _until(lambda: bool(worker_pids() - {first}), proc, log_path)
        (second,) = worker_pids() - {first}

        clip = make_clip(tmp_path / "clip.mp4", f0_hz=452.0, seconds=1.0, size="64x48")
        url = fake.add_file("clip.mp4", clip.read_bytes())
        await fake.push_message(
            peer_id=62, message_id=1, attachments=[doc_attachment(url, size=1000)]
        )
        result_id = random_id_for("62_1", "result")
        await fake.wait_for(
            lambda: any(m.random_id == result_id for m in fake.replies_to(62, 1)), timeout_s=180
        )

        def finished() -> bool:
            job = store.get("62_1")
            return job is not None and job.state == "done"

        await _until(finished, proc, log_path)

        os.kill(second, signal.SIGKILL)  # the second death within the window: give up
        code = await asyncio.to_thread(proc.wait, 60)
    text = log_path.read_text()
    assert code == 1, text[-3000:]
    assert f"embedded worker (pid {first}) died: killed by SIGKILL; restarting in" in text
    assert f"embedded worker (pid {second}) died: killed by SIGKILL; 2 deaths" in text
    assert "giving up" in text and "exit code 1" in text
    job = store.get("62_1")
    assert job is not None and job.state == "done" and job.attempts == 1
    assert TOKEN not in text


def test_stop_waits_out_a_long_job_for_the_configured_time() -> None:
    """A deploy during a long job: the child (finishing its job on SIGINT, as huey does) is
    given ``stop_timeout_s`` and exits on its own, not SIGKILLed as ``worker_crashed``."""
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: (time.sleep(1.5), sys.exit(0)))\n"  # the job
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    read, write = os.pipe()
    with os.fdopen(write, "wb") as out:
        supervisor = WorkerSupervisor(
            [sys.executable, "-c", child], os.environ, stop_timeout_s=30.0, output=out
        )
        supervisor.start()
        with os.fdopen(read, "rb") as lines:
            assert lines.readline() == b"ready\n"  # its SIGINT handler is in place
    started = time.monotonic()
    supervisor.stop()
    supervisor.join(10)
    assert supervisor._child is not None and supervisor._child.returncode == 0  # not killed
    assert 1.5 <= time.monotonic() - started < 30


def test_the_stop_timeout_defaults_to_the_longest_job_and_is_configurable() -> None:
    from bot.settings import Settings

    base = {"VK_TOKEN": "t", "VK_GROUP_ID": "1"}
    default = Settings.from_env(base)
    longest = Settings.longest_job_s(
        default.download_timeout_s, 600.0, default.vk_timeout_s
    )  # 600 s: core.limits' longest clip
    assert default.worker_stop_timeout_s == longest >= 600.0 + default.download_timeout_s
    assert default.worker_stop_timeout_s == Settings(vk_token="t", group_id=1).worker_stop_timeout_s
    longer_clips = Settings.from_env({**base, "SMASK_MAX_DURATION_S": "1200"})
    assert longer_clips.worker_stop_timeout_s == longest + 600.0
    assert (
        Settings.from_env({**base, "SMASK_WORKER_STOP_TIMEOUT_S": "90"}).worker_stop_timeout_s == 90
    )
    with pytest.raises(ValueError, match="SMASK_WORKER_STOP_TIMEOUT_S"):
        Settings.from_env({**base, "SMASK_WORKER_STOP_TIMEOUT_S": "0"})
