"""Pieces the bot tests and bench/bot_ack.py share: settings for a fake VK, clips, processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TOKEN = "fake-token-7f3a9c"  # tests assert it never reaches a log
GROUP_ID = 77


def tracker_or_skip() -> str:
    """The pitch model the worker will load; skip (with the reason) when it is not there yet."""
    import pytest

    from models.checkpoint import resolve

    name = os.environ.get("SMASK_TEST_TRACKER", "default")
    if not resolve(name).is_file():
        pytest.skip(f"no pitch model at {resolve(name)} (train it or set SMASK_TEST_TRACKER)")
    return name


def make_settings(
    tmp_path: Path, fake: Any, *, redis_url: str | None = None, **overrides: Any
) -> Settings:
    base = Settings(
        vk_token=TOKEN,
        group_id=GROUP_ID,
        redis_url=redis_url,
        state_dir=tmp_path,
        queue_path=tmp_path / "queue.db",
        jobs_path=tmp_path / "jobs.db",
        api_url=fake.api_url,
        allowed_hosts=("127.0.0.1", "*.userapi.com"),
        work_dir=tmp_path / "work",
        lease_s=30.0,
        stale_queued_s=60.0,
        sweep_interval_s=0.5,
        vk_retries=8,
        vk_backoff_s=0.01,
        device="cpu",
        # The shipped model by default; SMASK_TEST_TRACKER points at another checkpoint.
        tracker=os.environ.get("SMASK_TEST_TRACKER", "default"),
    )
    return replace(base, **overrides)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a ``python -m bot ...`` process needs to rebuild ``settings``."""
    env = dict(os.environ)
    env.update(
        {
            "VK_TOKEN": settings.vk_token,
            "VK_GROUP_ID": str(settings.group_id),
            "VK_USER_TOKEN": settings.vk_user_token,
            "VK_API_URL": settings.api_url or "",
            "SMASK_STATE_DIR": str(settings.state_dir),
            "SMASK_QUEUE_PATH": str(settings.queue_path),
            "SMASK_JOBS_PATH": str(settings.jobs_path),
            "SMASK_ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
            "SMASK_WORK_DIR": str(settings.work_dir),
            "SMASK_LEASE_S": str(settings.lease_s),
            "SMASK_STALE_QUEUED_S": str(settings.stale_queued_s),
            "SMASK_SWEEP_INTERVAL_S": str(settings.sweep_interval_s),
            "SMASK_VK_RETRIES": str(settings.vk_retries),
            "SMASK_VK_BACKOFF_S": str(settings.vk_backoff_s),
            "SMASK_MAX_DOWNLOAD_BYTES": str(settings.max_download_bytes),
            "SMASK_MAX_WAITING_PER_USER": str(settings.max_waiting_per_user),
            "SMASK_MAX_CLIPS_PER_HOUR": str(settings.max_clips_per_hour),
            "SMASK_MAX_QUEUE_LENGTH": str(settings.max_queue_length),
            "SMASK_WORKERS": str(settings.workers),
            "SMASK_DEVICE": settings.device or "cpu",
            "SMASK_TRACKER": settings.tracker,
            "SMASK_REDIS_URL": settings.redis_url or "",
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


def make_clip(
    path: Path, *, f0_hz: float = 440.0, seconds: float = 2.0, size: str = "96x64", fps: int = 10
) -> Path:
    """An MP4 with a harmonic tone at ``f0_hz`` (a held note) and a test picture."""
    harmonics = "+".join(f"{0.5 / k:.3f}*sin(2*PI*{f0_hz * k:.4f}*t)" for k in range(1, 5))
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={seconds}",
        "-f", "lavfi", "-i", f"aevalsrc={harmonics}:s=44100:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart",
        str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return path


class WorkerProcess:
    """``python -m bot worker`` as a real child process (so SIGKILL is a real kill)."""

    def __init__(self, settings: Settings, cwd: Path, log_path: Path) -> None:
        self.settings = settings
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.cwd.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"],
            cwd=self.cwd,
            env=settings_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGINT (graceful), then the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, fake: Any) -> AsyncIterator[Any]:
    """The real vkbottle Bot long-polling the fake server inside this event loop.

    Entered once the bot's first long-poll request arrived (VK only delivers newer events).
    """
    from bot.app import create_bot, serve

    bot = create_bot(settings)
    stop = asyncio.Event()
    polls = fake.lp_requests
    task = asyncio.create_task(serve(bot, stop))
    await fake.wait_for(lambda: fake.lp_requests > polls or task.done(), timeout_s=30)
    if task.done():
        task.result()
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def service_process(
    fake: Any, env: dict[str, str], cwd: Path, log_path: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``python -m bot bot``, the whole service, as a real child process logging to
    ``log_path``; entered once its first long-poll request arrived. On the way out it gets
    SIGINT (if still running) and is waited for; its exit code is ``proc.returncode``."""
    polls = fake.lp_requests
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "bot"], cwd=cwd, env=env, stdout=log, stderr=log
        )
    try:
        await fake.wait_for(lambda: fake.lp_requests > polls, timeout_s=60)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(proc.wait, 60)


async def say(fake: Any, peer: int, msg: int, text: str = "", **kw: Any) -> str:
    """Push one message to the bot and return the text of its one reply to it."""
    await fake.push_message(peer_id=peer, message_id=msg, text=text, **kw)
    await fake.wait_for(lambda: bool(fake.replies_to(peer, msg)), timeout_s=30)
    (answer,) = fake.replies_to(peer, msg)
    return str(answer.text)
