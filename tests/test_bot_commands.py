"""Commands, settings, limits and duplicate events through the real Bot and the fake VK."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import TOKEN, make_settings, running_bot, say

from bot import jobs
from bot.texts import t


async def test_settings_commands_and_language(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, fake)
    async with running_bot(settings, fake):
        assert await say(fake, 7, 1, "/help") == t("help", "ru")
        assert await say(fake, 7, 2, "привет") == t("help", "ru")  # anything else: help
        assert await say(fake, 7, 3, "/a4 999") == t("settings_invalid_a4", "ru")
        assert await say(fake, 7, 4, "/key H# lydian") == t("settings_invalid_key", "ru")
        assert (await say(fake, 7, 5, "/key F# minor")).startswith(t("settings_saved", "ru"))
        shown = await say(fake, 7, 6, "/settings")
        assert "фа-диез минор" in shown and "F#" not in shown  # the key in the learner's words
        assert "ля первой октавы = 440 Гц" in shown and "A4" not in shown
        assert "ля первой октавы = 442 Гц" in await say(fake, 7, 7, "/a4 442")
        assert "жёсткий" in await say(fake, 7, 8, "/mode hard")
        assert "Инструмент: флейта" in await say(fake, 7, 9, "/instrument flute")
        assert (await say(fake, 7, 10, "/lang en")).startswith(t("settings_saved", "en"))
        assert await say(fake, 7, 11, "/help") == t("help", "en")
        assert await say(fake, 8, 1, "/help") == t("help", "ru")  # settings are per user
        assert "Строй: ля первой октавы — по записи" in await say(fake, 8, 2, "/a4 auto")
        # group-chat chatter is ignored, commands still answered
        await fake.push_message(peer_id=2_000_000_001, from_id=9, message_id=1, text="всем привет")
        assert await say(fake, 2_000_000_001, 2, "/help", from_id=9) == t("help", "ru")
        mention = "[club77|@smask], /status"
        status = await say(fake, 2_000_000_001, 3, mention, from_id=9)
        assert status == t("status_none", "ru") + "\n\n" + t("status_paused", "ru")
    assert not fake.replies_to(2_000_000_001, 1)
    assert TOKEN not in caplog.text
    # the settings travel with the user's next job
    from bot.prefs import SqlitePrefsStore

    prefs = SqlitePrefsStore(settings.jobs_path).get(7)
    assert (prefs.key, prefs.scale, prefs.a4_hz, prefs.mode, prefs.lang) == (
        "F#", "minor", 442.0, "hard", "en",
    )  # fmt: skip
    assert SqlitePrefsStore(settings.jobs_path).get(8).a4_hz is None


async def test_queue_status_cancel_limits_and_duplicates(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake.duplicate_events = True
    settings = make_settings(tmp_path, fake, max_waiting_per_user=2)
    url = fake.add_file("clip.mp4", b"not processed: no worker runs in this test")
    clip = [doc_attachment(url, size=100)]
    async with running_bot(settings, fake):
        first = await say(fake, 20, 1, attachments=clip)
        assert first == t("queued", "ru", position=1)
        second = await say(fake, 21, 1, attachments=clip)
        assert second == t("queued", "ru", position=2)
        await say(fake, 20, 2, attachments=clip)
        limit = await say(fake, 20, 3, attachments=clip)
        assert limit == t("limit_user_waiting", "ru", limit=2)
        status = await say(fake, 20, 4, "/status")
        assert "позиция 1" in status and "позиция 3" in status
        assert await say(fake, 20, 5, "/cancel") == t("cancel_done", "ru", count=2)
        # no worker runs in this test: /status says so, kindly, with the queue's length
        service = t("status_queue", "ru", queued=1) + "\n" + t("status_paused", "ru")
        assert await say(fake, 20, 6, "/status") == t("status_none", "ru") + "\n\n" + service
        other = (
            t("status_header", "ru") + "\n" + t("status_queued", "ru", title="clip.mp4", position=1)
        )
        assert await say(fake, 21, 2, "/status") == other + "\n\n" + service
        # a worker's heartbeat (what Sweeper.beat writes) ends the "paused" line
        jobs.SqliteJobStore(settings.jobs_path).beat("host:1", {"worker": "host:1"}, 60.0)
        assert await say(fake, 21, 3, "/status") == other + "\n\n" + t(
            "status_queue", "ru", queued=1
        )
    # every event came twice, yet each message got one answer and one job
    assert all(len(fake.replies_to(20, m)) == 1 for m in range(1, 7))
    assert len(fake.replies_to(21, 3)) == 1
    sends = fake.calls_of("messages.send")
    assert len(sends) == len({(s["peer_id"], s["random_id"]) for s in sends})
    store = jobs.SqliteJobStore(settings.jobs_path)
    assert [j.job_id for j in store.active()] == ["21_1"]
    cancelled = store.get("20_1")
    assert cancelled is not None and cancelled.state == "cancelled"


async def test_a_redelivered_message_after_restart_is_not_queued_twice(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    clip = [doc_attachment(fake.add_file("c.mp4", b"x"), size=1)]
    async with running_bot(settings, fake):
        await say(fake, 30, 1, attachments=clip)
    async with running_bot(settings, fake):  # a fresh process: its in-memory dedup is empty
        await fake.push_message(peer_id=30, message_id=1, attachments=clip)
        await fake.push_message(peer_id=30, message_id=2, text="/status")
        await fake.wait_for(lambda: bool(fake.replies_to(30, 2)), timeout_s=30)
    assert len(fake.replies_to(30, 1)) == 1
    assert len(jobs.SqliteJobStore(settings.jobs_path).active()) == 1
