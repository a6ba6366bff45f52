"""Tunes for the tests, written inline: a melody's MIDI notes and beat lengths in 4/4."""

from __future__ import annotations

from collections.abc import Sequence

from core.score.model import Score, ScoreNote

TWINKLE = [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60]
LENGTHS = [1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2]


def inline_score(midis: Sequence[int], lengths: Sequence[float], title: str = "twinkle", *,
                 seconds_per_beat: float = 0.5) -> Score:  # fmt: skip
    """The melody as a Score, bars and beats counted in 4/4 from beat 0."""
    notes, beat = [], 0.0
    for m, d in zip(midis, lengths, strict=True):
        notes.append(ScoreNote(m, beat, float(d), int(beat // 4) + 1, beat % 4 + 1))
        beat += d
    return Score(tuple(notes), "inline", title, seconds_per_beat=seconds_per_beat,
                 has_meter=True)  # fmt: skip


def twinkle() -> Score:
    return inline_score(TWINKLE, LENGTHS, "Twinkle")
