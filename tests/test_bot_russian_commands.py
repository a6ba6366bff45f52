"""Russian commands and values beside the English ones, and a typed tune the learner can check,
through the real Bot and the fake VK (issue 23, points 2 and 3). Texts are checked by meaning:
what was saved, which words an answer holds, never a whole string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fakevk import FakeVK
from fakevk.harness import make_settings, running_bot, say

from bot.prefs import SqlitePrefsStore
from bot.texts import t
from core.notation import note_name
from core.score.load import parse_note_names
from core.score.model import Score

ELOCHKA = "соль ми ми соль ми ми соль фа ми ре до ля до ля соль ми ми соль фа ми ре до"


async def test_russian_commands_and_values_in_russian(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    prefs = SqlitePrefsStore(settings.jobs_path)
    async with running_bot(settings, fake):
        help_text = await say(fake, 7, 1, "/помощь")
        commands = "/тональность /режим /инструмент /строй /мелодия /язык /настройки /статус"
        for command in (commands + " /отмена /помощь /мелодии /ошибки").split():
            assert command in help_text, command
        assert "ми1" in help_text and "ля малой" in help_text  # the octave notation
        assert (await say(fake, 7, 2, "/тональность ре минор")).startswith(t("settings_saved"))
        assert (prefs.get(7).key, prefs.get(7).scale) == ("D", "minor")
        await say(fake, 7, 3, "/key си-бемоль мажор")
        assert (prefs.get(7).key, prefs.get(7).scale) == ("Bb", "major")
        await say(fake, 7, 4, "/тональность Фа-диез минор")
        assert (prefs.get(7).key, prefs.get(7).scale) == ("F#", "minor")
        await say(fake, 7, 5, "/режим жёсткий")
        assert prefs.get(7).mode == "hard"
        await say(fake, 7, 6, "/режим естественный")
        assert prefs.get(7).mode == "natural"
        await say(fake, 7, 7, "/инструмент Скрипка")
        assert prefs.get(7).instrument == "violin"
        await say(fake, 7, 8, "/строй 442")
        assert prefs.get(7).a4_hz == 442.0
        await say(fake, 7, 9, "/строй авто")
        assert prefs.get(7).a4_hz is None
        await say(fake, 7, 10, "/тональность авто")
        assert prefs.get(7).key is None
        # Unknown values: examples in Russian, nothing saved.
        bad_key = await say(fake, 7, 11, "/тональность ля-ля-ля")
        assert "ре минор" in bad_key or "до мажор" in bad_key
        bad_mode = await say(fake, 7, 12, "/режим быстрый")
        assert "жёсткий" in bad_mode and "естественный" in bad_mode
        bad_instrument = await say(fake, 7, 13, "/инструмент балалайка")
        assert "скрипка" in bad_instrument and "флейта" in bad_instrument
        bad_lang = await say(fake, 7, 14, "/язык китайский")
        assert "русский" in bad_lang
        assert prefs.get(7).instrument == "violin" and prefs.get(7).lang == "ru"
        assert "Ваши настройки" in await say(fake, 7, 15, "/настройки")
        assert (await say(fake, 7, 16, "/статус")).startswith(t("status_none"))
        assert await say(fake, 7, 17, "/отмена") == t("cancel_none")
        await say(fake, 7, 18, "/ошибки вкл")
        assert prefs.get(7).fix_wrong_notes
        await say(fake, 7, 19, "/язык английский")
        assert prefs.get(7).lang == "en"


async def test_russian_commands_and_values_in_english(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    prefs = SqlitePrefsStore(settings.jobs_path)
    async with running_bot(settings, fake):
        assert (await say(fake, 8, 1, "/lang english")).startswith(t("settings_saved", "en"))
        help_text = await say(fake, 8, 2, "/help")
        assert "/key" in help_text and "/тональность" in help_text and "e'" in help_text
        await say(fake, 8, 3, "/тональность ре минор")
        assert (prefs.get(8).key, prefs.get(8).scale) == ("D", "minor")
        await say(fake, 8, 4, "/key G major")
        assert (prefs.get(8).key, prefs.get(8).scale) == ("G", "major")
        await say(fake, 8, 5, "/mode жёсткий")
        assert prefs.get(8).mode == "hard"
        await say(fake, 8, 6, "/инструмент флейта")
        assert prefs.get(8).instrument == "flute"
        bad_key = await say(fake, 8, 7, "/key X dorian")
        assert "/key C major" in bad_key and "Не" not in bad_key  # English examples
        bad_instrument = await say(fake, 8, 8, "/instrument banjo")
        assert "violin" in bad_instrument and "скрипка" not in bad_instrument
        await say(fake, 8, 9, "/язык ру")
        assert prefs.get(8).lang == "ru"


def _listed(answer: str) -> list[str]:
    """The notes of a confirmation's numbered lines («1–8: соль¹ ми¹ …»), in order."""
    notes: list[str] = []
    for line in answer.splitlines():
        match = re.fullmatch(r"\d+(?:–\d+)?: (.+)", line)
        if match:
            notes.append(match[1])
    return " ".join(notes).split(" ")


async def test_a_typed_tune_is_confirmed_in_full_with_its_guessed_octaves(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    prefs = SqlitePrefsStore(settings.jobs_path)
    async with running_bot(settings, fake):
        answer = await say(fake, 9, 1, "/мелодия " + ELOCHKA)
        stored = Score.from_dict(prefs.get(9).tune or {})
        assert len(stored.notes) == 22 and stored.guessed_octaves == tuple(range(22))
        expected = " ".join(note_name(m, "ru") for m in stored.midi().tolist()).split(" ")
        assert _listed(answer) == expected  # all 22, with octaves, in order
        assert "22 ноты" in answer and "угадал у всех нот" in answer
        # Marked octaves are taken as written, and only the rest are said to be guessed.
        marked = await say(fake, 9, 2, "/мелодия соль1 ми ми соль1 до2 ля1")
        assert _listed(marked) == ["соль¹", "ми¹", "ми¹", "соль¹", "до²", "ля¹"]
        assert "у нот 2–3" in marked
        assert Score.from_dict(prefs.get(9).tune or {}).midi().tolist() == [67, 64, 64, 67, 72, 69]
        # /мелодия alone shows it again, in full.
        assert _listed(await say(fake, 9, 3, "/мелодия")) == _listed(marked)
        await say(fake, 9, 4, "/язык англ")
        english = await say(fake, 9, 5, "/tune " + ELOCHKA)
        typed = parse_note_names(ELOCHKA)
        assert _listed(english) == [note_name(m, "en") for m in typed.midi().tolist()]
        assert "guessed the octave of every note" in english
        assert await say(fake, 9, 6, "/мелодия выкл") == t("tune_off", "en")


async def test_a_tune_at_the_note_limit_is_listed_whole_in_messages_vk_accepts(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.score.model import MAX_SCORE_NOTES

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    scale = ["до1", "ре1", "ми1", "фа2"]  # short names: the whole tune fits a typed message
    typed = [scale[k % len(scale)] for k in range(MAX_SCORE_NOTES)]
    async with running_bot(settings, fake):
        await fake.push_message(peer_id=10, message_id=1, text="/мелодия " + " ".join(typed))
        await fake.wait_for(
            lambda: any("Теперь присылайте" in m.text for m in fake.replies_to(10, 1))
        )
        answers = [str(m.text) for m in fake.replies_to(10, 1)]
    assert len(answers) > 1 and all(len(text) <= 4096 for text in answers)  # VK's limit
    assert _listed("\n".join(answers)) == [
        note_name(m, "ru") for m in parse_note_names(" ".join(typed)).midi().tolist()
    ]
