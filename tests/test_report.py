"""The report: JSON facts, the chat text in both languages, and a readable PNG."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from core.report import MissedReport, NoteReport, Report, ScoreReport


def make_report() -> Report:
    notes = [
        NoteReport(0.0, 1.0, "A4", 440.0, 30.0, 0.4),
        NoteReport(1.0, 3.0, "C5", 523.251, -40.0, -0.6),
        NoteReport(3.0, 4.0, "E5", 659.255, 2.0, 2.0),
    ]
    times = np.arange(400, dtype=np.float64) * 0.01
    before = np.concatenate([np.full(100, 445.0), np.full(200, 511.0), np.full(100, 660.0)])
    before[150:160] = np.nan
    after = np.concatenate([np.full(100, 440.1), np.full(200, 523.0), np.full(100, 660.0)])
    after[150:160] = np.nan
    return Report(
        notes=notes,
        key="C major",
        key_detected=True,
        a4_hz=440.0,
        duration_s=4.0,
        times_s=times,
        f0_before_hz=before,
        f0_after_hz=after,
    )


def test_summary_weights_notes_by_duration() -> None:
    report = make_report()
    # (30*1 + 40*2 + 2*1) / 4 = 28; (0.4 + 1.2 + 2) / 4 = 0.9
    assert report.mean_abs_cents_before == pytest.approx(28.0)
    assert report.mean_abs_cents_after == pytest.approx(0.9)
    assert report.n_corrected == 2


def test_to_dict_is_json_with_the_documented_fields() -> None:
    data = json.loads(json.dumps(make_report().to_dict()))
    assert set(data) == {"summary", "notes", "missed", "score", "off_key_notes"}
    assert data["missed"] == [] and data["score"] is None and data["off_key_notes"] == []
    assert data["summary"]["mean_abs_cents_before"] == 28.0
    assert data["summary"]["mean_abs_cents_after"] == 0.9
    first = data["notes"][0]
    assert set(first) == {
        "start_s", "end_s", "name", "target_hz", "cents_before", "cents_after", "vibrato_cents",
        "score_index", "expected", "verdict", "onset_error_s", "off_key",
    }  # fmt: skip
    assert first["verdict"] is None and first["score_index"] is None
    assert first["name"] == "A4" and first["cents_before"] == 30.0


def test_text_in_russian_by_default_and_english() -> None:
    report = make_report()
    ru = report.to_text()
    assert "было 28 ц, стало 1 ц" in ru and "до мажор" in ru and "до второй октавы" in ru
    assert "C5" not in ru and "ля первой октавы = 440 Гц" in ru and "1,0 с" in ru
    en = report.to_text("en")
    assert "28 cents before, 1 cent after" in en and "C major (detected)" in en
    assert len(ru.splitlines()) <= 5
    with pytest.raises(ValueError, match="lang"):
        report.to_text("de")


def test_text_when_everything_was_in_tune() -> None:
    report = Report(notes=[NoteReport(0.0, 1.0, "A4", 440.0, 2.0, 2.0)], key="A minor",
                    key_detected=False)  # fmt: skip
    assert "almost exactly in tune" in report.to_text("en")


def test_a_noisy_recording_is_named_with_a_tip_in_both_languages() -> None:
    from dataclasses import replace

    clean = make_report()
    noisy = replace(clean, harmonicity_db=7.34, noisy_recording=True)
    assert "шумная или гулкая" not in clean.to_text() and "noisy" not in clean.to_text("en")
    assert "шумная или гулкая" in noisy.to_text() and "поближе к телефону" in noisy.to_text()
    assert "noisy or echoey" in noisy.to_text("en")
    summary = json.loads(json.dumps(noisy.to_dict()))["summary"]
    assert summary["harmonicity_db"] == 7.3 and summary["noisy_recording"] is True
    assert clean.to_dict()["summary"]["harmonicity_db"] is None


def test_plot_writes_a_chat_sized_png(tmp_path: Path) -> None:
    path = tmp_path / "pitch.png"
    make_report().plot(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 600)
    assert 10_000 < len(data) < 1_000_000


def make_score_report(
    *, wrong: int = 1, missed: int = 1, extra: int = 1, is_the_tune: bool = True
) -> Report:
    base = make_report()
    notes = [
        NoteReport(0.0, 1.0, "A4", 440.0, 30.0, 0.4, score_index=0, expected="A4", verdict="ok",
                   onset_error_s=0.01, played="A4"),
        NoteReport(1.0, 3.0, "F4", 349.228, -40.0, -0.6, score_index=1, expected="F#4",
                   verdict="wrong" if wrong else "ok", onset_error_s=0.0, played="F4"),
        NoteReport(3.0, 4.0, "E5", 659.255, 45.0, 45.0, score_index=None, verdict="extra"),
    ][: 3 if extra else 2]  # fmt: skip
    gone = [MissedReport(2, "D5", 3.6, 74, 0.5)] if missed else []
    score = ScoreReport(
        source="songbook:twinkle", notes=3, transposition_semitones=12, tempo_ratio=0.8,
        matched=2, wrong=wrong, missed=len(gone), extra=extra, is_the_tune=is_the_tune,
        title="Twinkle", bars=(1, 2, 2), seconds_per_beat=0.6, durations_beats=(1.0, 2.0, 1.0),
    )  # fmt: skip
    return Report(notes=notes, key="C major", key_detected=True, duration_s=4.0,
                  times_s=base.times_s, f0_before_hz=base.f0_before_hz,
                  f0_after_hz=base.f0_after_hz, missed=gone, score=score)  # fmt: skip


def test_score_fields_in_json() -> None:
    data = json.loads(json.dumps(make_score_report().to_dict()))
    assert [n["verdict"] for n in data["notes"]] == ["ok", "wrong", "extra"]
    assert data["notes"][1]["expected"] == "F#4" and data["notes"][2]["score_index"] is None
    assert "played" not in data["notes"][0]
    assert data["missed"] == [{"score_index": 2, "expected": "D5", "at_s": 3.6}]
    assert {"source", "notes", "transposition_semitones", "tempo_ratio", "matched", "wrong",
            "missed", "extra"} <= set(data["score"])  # fmt: skip
    assert data["score"]["wrong"] == 1 and data["score"]["tempo_ratio"] == 0.8


def test_score_text_names_wrong_and_missed_notes_like_a_teacher() -> None:
    report = make_score_report()
    en = report.to_text("en")
    assert "Note 2 (bar 2): played F4 instead of F#4." in en
    assert "Note 3 (bar 2): missed D5 (at 3.6 s)." in en
    assert "an octave higher" in en or "1 octave higher" in en
    assert "Mean deviation" in en  # the intonation figures stay
    worst = next(line for line in en.splitlines() if line.startswith("Most out of tune"))
    assert "F4" in worst and "E5" not in worst  # an extra note is nobody's intonation
    ru = report.to_text()
    assert "Нота 2 (такт 2): сыграно фа¹ вместо фа♯¹." in ru
    assert "Нота 3 (такт 2): пропущена ре² (около 3,6 с)" in ru and "Среднее отклонение" in ru


def test_score_text_praises_a_clean_take_and_owns_up_when_not_the_tune() -> None:
    clean = make_score_report(wrong=0, missed=0, extra=0)
    assert "Every note was right" in clean.to_text("en")
    assert "молодец" in clean.to_text("ru")
    # One note more than the tune is no clean take: no praise, and the note is named.
    one_extra = make_score_report(wrong=0, missed=0, extra=1)
    assert "молодец" not in one_extra.to_text("ru")
    assert "Every note was right" not in one_extra.to_text("en")
    other = make_score_report(wrong=0, missed=0, is_the_tune=False)
    assert "doesn't sound like" in other.to_text("en")
    assert "Не похоже" in other.to_text("ru")


def test_score_plot_marks_wrong_and_missed_notes(tmp_path: Path) -> None:
    path = tmp_path / "score.png"
    make_score_report().plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
