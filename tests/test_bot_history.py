"""/history and /forget through the real Bot and the fake VK (issue 25)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakevk import FakeVK
from fakevk.harness import make_settings, running_bot, say

from bot.history.config import HistoryConfig
from bot.history.store import TakeStore
from bot.prefs import SqlitePrefsStore
from bot.texts import t
from tests.history_factory import make_report, make_take_audio, store_take

DAY = 86400.0


async def test_history_answers_a_chart_and_progress_and_forget_deletes_everything(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMASK_PUBLIC_URL", "https://smask.example")
    settings = make_settings(tmp_path, fake)
    store = TakeStore(HistoryConfig.from_env(state_dir=settings.state_dir))
    audio = make_take_audio(tmp_path / "audio", make_report())
    now = time.time()
    store_take(store, 7, make_report(cents=20), audio, created_at=now - 14 * DAY)
    store_take(store, 7, make_report(cents=14, wrong_at=(), missed=0), audio, created_at=now)
    async with running_bot(settings, fake):
        assert await say(fake, 8, 1, "/history") == t("history_none", "ru")
        answer = await say(fake, 7, 2, "/история")
        assert "за 2 нед. в среднем на 6 ц точнее, неверных нот больше нет" in answer
        assert "https://smask.example/me?" in answer
        (sent,) = fake.replies_to(7, 2)
        assert sent.attachment.startswith("photo")
        await say(fake, 7, 3, "/key F# minor")
        assert await say(fake, 7, 4, "/забыть") == t("forget_done", "ru", takes=2)
        assert await say(fake, 7, 5, "/history") == t("history_none", "ru")
    assert store.takes(7) == []
    assert SqlitePrefsStore(settings.jobs_path).get(7).key is None
