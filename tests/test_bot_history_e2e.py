"""A take's whole life through the real Bot, a real worker process and the fake VK (issue 25):
a clip is corrected, the reply links to the take's page, the take is on disk as Opus, and
after /forget the link shows nothing and nothing of the learner's takes is left."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import (
    WorkerProcess,
    make_clip,
    make_settings,
    running_bot,
    say,
    tracker_or_skip,
)

from bot.history.config import HistoryConfig
from bot.history.store import TakeStore
from bot.texts import t
from bot.web.server import start_web

pytestmark = pytest.mark.slow

PUBLIC = "https://smask.example"


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        await r.read()
        return r.status


async def test_a_clip_is_kept_linked_and_forgotten(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMASK_PUBLIC_URL", PUBLIC)  # the worker process inherits it
    monkeypatch.delenv("SMASK_HISTORY_DIR", raising=False)
    settings = make_settings(tmp_path, fake)
    store = TakeStore(HistoryConfig.from_env(state_dir=settings.state_dir))
    clip = make_clip(tmp_path / "take.mp4", f0_hz=450.0, seconds=2.5)
    url = fake.add_file("take.mp4", clip.read_bytes())
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()

    def worker_log() -> str:  # what an assertion shows when the worker got it wrong
        return (tmp_path / "worker.log").read_text()[-3000:]

    web = await start_web(store, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{web.addresses[0][1]}"
    try:
        async with running_bot(settings, fake):
            await fake.push_message(peer_id=501, message_id=11, attachments=[
                doc_attachment(url, title="take.mp4", size=clip.stat().st_size)])  # fmt: skip
            await fake.wait_for(lambda: len(fake.replies_to(501, 11)) >= 2, timeout_s=240)
            result = max(fake.replies_to(501, 11), key=lambda m: m.message_id)
            link = re.search(re.escape(PUBLIC) + r"(/t/[A-Za-z0-9_-]+)\?(\S+)", result.text)
            assert link is not None, result.text
            path, query = link.groups()
            # Kept after the reply, off the learner's wait; a graceful stop (SIGINT) finishes
            # the job, take included, so it is on disk once the worker has exited.
            assert await asyncio.to_thread(worker.stop) == 0
            takes = store.takes(501)
            assert len(takes) == 1, worker_log()
            (take,) = takes
            assert path == f"/t/{take['take_id']}"
            for side in ("before", "after"):
                ogg = store.audio_path(501, take["take_id"], side)
                assert ogg is not None and ogg.read_bytes()[:4] == b"OggS"
            assert await _status(f"{base}{path}?{query}") == 200
            assert await _status(f"{base}{path}/after.ogg?{query}") == 200

            assert await say(fake, 501, 12, "/forget") == t("forget_done", "ru", takes=1)
            assert await _status(f"{base}{path}?{query}") in (403, 404)
            assert await _status(f"{base}{path}/before.ogg?{query}") in (403, 404)
    finally:
        await web.cleanup()
        assert await asyncio.to_thread(worker.stop) == 0, worker_log()
    history = store.root
    assert not (history / "users" / "501").exists()
    assert not list(history.rglob("*.ogg")) and not list(history.rglob("take.json"))
    assert not list((history / "staging").iterdir())
