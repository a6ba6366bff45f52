"""Real takes for the history and page tests: a core.report.Report built from its own
classes, real WAV audio made by ffmpeg, stored through the real TakeStore."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.history.config import HistoryConfig
from bot.history.store import TakeStore, new_take_id
from bot.history.take import take_record
from core.report import MissedReport, NoteReport, Report, ScoreReport
from tests.media_factory import make_audio, tone_expression

MELODY = [("C4", 261.63), ("D4", 293.66), ("E4", 329.63), ("F4", 349.23), ("G4", 392.0),
          ("A4", 440.0), ("B4", 493.88), ("C5", 523.25)]  # fmt: skip


def make_report(n_notes: int = 8, *, title: str | None = "Кузнечик", note_s: float = 0.5,
                cents: float = 20.0, wrong_at: tuple[int, ...] = (2,), missed: int = 1,
                extra_at: tuple[int, ...] = ()) -> Report:  # fmt: skip
    """A take of ``n_notes`` notes up and down a scale, with wrong, missed and extra notes."""
    notes = []
    for i in range(n_notes):
        name, hz = MELODY[i % len(MELODY)]
        verdict = "wrong" if i in wrong_at else "extra" if i in extra_at else "ok"
        expected = MELODY[(i + 1) % len(MELODY)][0] if verdict == "wrong" else name
        sign = 1 if i % 2 else -1
        notes.append(NoteReport(
            start_s=i * note_s, end_s=(i + 0.9) * note_s, name=name, target_hz=hz,
            cents_before=sign * cents, cents_after=sign * 2.0,
            score_index=None if verdict == "extra" else i,
            expected=None if verdict == "extra" else expected, verdict=verdict,
        ))  # fmt: skip
    gone = [MissedReport(score_index=n_notes + j, expected="E4", at_s=n_notes * note_s + j * note_s,
                         expected_midi=64, duration_s=note_s) for j in range(missed)]  # fmt: skip
    score = None
    if title is not None:
        score = ScoreReport(source="tune.mid", notes=n_notes + missed, transposition_semitones=0,
                            tempo_ratio=1.0, matched=n_notes - len(extra_at), wrong=len(wrong_at),
                            missed=missed, extra=len(extra_at), title=title)  # fmt: skip
    return Report(notes=notes, key="C major", key_detected=True,
                  duration_s=(n_notes + missed) * note_s, missed=gone, score=score)  # fmt: skip


def make_take_audio(folder: Path, report: Report) -> tuple[Path, Path]:
    """Before (a bit sharp and flat) and after (in tune) WAVs of the report's notes."""
    folder.mkdir(parents=True, exist_ok=True)
    span = max(n.end_s for n in report.notes) if report.notes else 1.0
    duration = max(report.duration_s, span)
    step = report.notes[1].start_s - report.notes[0].start_s if len(report.notes) > 1 else 0.5
    tones_before = [(n.target_hz * 2 ** (n.cents_before / 1200), step) for n in report.notes]
    tones_after = [(n.target_hz, step) for n in report.notes]
    before = make_audio(folder / "before.wav", "wav_s16", duration_s=duration,
                        expression=tone_expression(tones_before, harmonics=2))  # fmt: skip
    after = make_audio(folder / "after.wav", "wav_s16", duration_s=duration,
                       expression=tone_expression(tones_after, harmonics=2))  # fmt: skip
    return before, after


def store_take(store: TakeStore, user_id: int, report: Report, audio: tuple[Path, Path], *,
               created_at: float | None = None, job_id: str | None = None,
               file_title: str = "take.mp4") -> str | None:  # fmt: skip
    created = time.time() if created_at is None else created_at
    record: dict[str, Any] = take_record(
        report, take_id=new_take_id(), job_id=job_id or new_take_id(), user_id=user_id,
        created_at=created, file_title=file_title, kind="doc")  # fmt: skip
    return store.put(record, *audio)


def make_store(root: Path, **kw: Any) -> TakeStore:
    return TakeStore(HistoryConfig(root=root, web_secret="test-secret",
                                   vk_app_secret="wvl68m4dR1UpLrVRli", **kw))  # fmt: skip
