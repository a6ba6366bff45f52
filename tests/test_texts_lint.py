"""Everything the learner reads is in their language: the texts, and real rendered reports.

A Russian reply that says "E4 на 8.4 с" or «Мелодия: «inline»» makes a child doubt the whole
check (issue 23), so the texts of bot/texts.py and the reports of a real take against a typed
tune are read here for Latin note names, decimal points and internal source names.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.texts import TEXTS, languages, t
from core.notation import note_name, number
from core.report import Report

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "sample.mp4"
WEIGHTS = REPO / "models" / "weights" / "default.pt"

LATIN_NOTE = re.compile(r"\b[A-G][#b♯♭]?\d\b")
DECIMAL_POINT = re.compile(r"\d\.\d")
INTERNAL = re.compile(r"inline|midi:|musicxml:|songbook:", re.IGNORECASE)
# The sample is a phrase of "Ode to Joy" (data/make_sample.py); this tune lacks the G5 after
# the two A5s, so the take has a note the tune does not.
TUNE_ONE_SHORT = "F#5 F#5 G5 A5 A5 F#5 E5 D5 D5 E5 F#5 F#5 F#5 E5 E5"


def russian_faults(text: str) -> list[str]:
    return LATIN_NOTE.findall(text) + DECIMAL_POINT.findall(text) + INTERNAL.findall(text)


def test_every_text_exists_in_both_languages() -> None:
    for key, entry in TEXTS.items():
        assert set(languages()) <= set(entry), key
        assert all(entry[lang].strip() for lang in languages()), key


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_no_latin_note_name_or_decimal_point_in_a_russian_text(key: str) -> None:
    assert not russian_faults(TEXTS[key]["ru"]), TEXTS[key]["ru"]


def test_a_fractional_fact_takes_a_comma_in_russian() -> None:
    assert "12,5 МБ" in t("declared_too_large", "ru", size_mb=12.5, max_mb=20.0)
    assert "12.5 MB" in t("declared_too_large", "en", size_mb=12.5, max_mb=20.0)


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The bundled sample, checked against a typed tune one note short: a real report."""
    if not WEIGHTS.exists():
        pytest.skip(f"tracker weights not built yet ({WEIGHTS})")
    from core.pipeline import CorrectOptions, correct_file
    from core.score.load import load_score

    out = tmp_path_factory.mktemp("take") / "fixed.mp4"
    options = CorrectOptions(device="cpu", score=load_score(TUNE_ONE_SHORT))
    report = correct_file(SAMPLE, out, options)
    out.unlink(missing_ok=True)
    return report


def variants(report: Report) -> dict[str, Report]:
    """The same take as a learner might have named its tune: typed, a MIDI file without a
    title, a songbook tune; and with no tune, in a key with flats and at A4 = 442.5 Hz."""
    assert report.score is not None
    return {
        "typed": report,
        "midi": replace(report, score=replace(report.score, source="midi:elochka.mid")),
        "songbook": replace(report, score=replace(report.score, source="songbook:ode-to-joy")),
        "no tune": replace(report, score=None, key="A# major", a4_hz=442.5),
    }


def test_rendered_russian_reports_speak_russian(take: Report) -> None:
    for name, report in variants(take).items():
        ru = report.to_text("ru")
        assert not russian_faults(ru), (name, ru)
        cents = [i for i, line in enumerate(ru.splitlines()) if re.search(r"\d ц\b", line)]
        assert "ц — центы, сотые доли полутона" in ru.splitlines()[cents[0]], ru
        en = report.to_text("en")
        assert not INTERNAL.findall(en), (name, en)
    assert "ля первой октавы = 442,5 Гц" in variants(take)["no tune"].to_text("ru")
    assert "си-бемоль мажор" in variants(take)["no tune"].to_text("ru")
    assert "«elochka.mid»" in variants(take)["midi"].to_text("ru")
    assert "«Ода к радости (Бетховен)»" in variants(take)["songbook"].to_text("ru")


def test_every_extra_note_is_named_with_its_time_and_not_praised(take: Report) -> None:
    extras = [n for n in take.notes if n.verdict == "extra"]
    assert take.score is not None and take.score.extra == len(extras) >= 1
    ru, en = take.to_text("ru"), take.to_text("en")
    for n in extras:
        assert f"{note_name(n.name, 'ru')} на {number(n.start_s, 'ru')} с" in ru, ru
        assert f"{n.name} at {number(n.start_s, 'en')} s" in en, en
    assert "молодец" not in ru and "Well done" not in en


def picture_words(report: Report, lang: str) -> list[str]:
    """Every string drawn on the picture: titles, axis labels, tick labels, marks, legend."""
    import matplotlib.pyplot as plt

    fig = report.figure(lang)
    try:
        words: list[str] = []
        for ax in fig.axes:
            words += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            fig.canvas.draw()  # tick labels are formatted at draw time
            words += [label.get_text() for label in ax.get_xticklabels() + ax.get_yticklabels()]
            words += [text.get_text() for text in ax.texts]
            legend = ax.get_legend()
            if legend is not None:
                words += [text.get_text() for text in legend.get_texts()]
        return [w for w in words if w]
    finally:
        plt.close(fig)


def test_the_picture_is_in_the_learners_language_and_marks_extra_notes(take: Report) -> None:
    for report in variants(take).values():
        words = picture_words(report, "ru")
        drawn = "\n".join(words)
        assert not russian_faults(drawn), drawn
        assert "время, с" in drawn and "отклонение, ц" in drawn
    words = picture_words(take, "ru")
    assert take.score is not None and words.count("+") == take.score.extra  # one per extra note
    assert "оранжевое (+) — лишние" in "\n".join(words)
    english = "\n".join(picture_words(take, "en"))
    assert "time, s" in english and LATIN_NOTE.search(english) and not INTERNAL.search(english)


def test_no_internal_name_in_the_tune_lines_a_learner_reads() -> None:
    from bot.handlers.preferences import describe
    from bot.prefs import UserPrefs
    from core.score.describe import describe_score
    from core.score.load import load_score

    typed = load_score("ми ре до ре ми ми ми")
    for lang in languages():
        line = describe_score(typed, lang)
        assert not INTERNAL.search(line), line
        settings = describe(UserPrefs(lang=lang, tune=typed.to_dict()))
        assert not INTERNAL.search(settings), settings
    assert not russian_faults(describe(UserPrefs(tune=typed.to_dict(), key="F#", scale="minor")))
