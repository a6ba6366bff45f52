"""Issue 24: a take read in a room, where the echo fills a repeat's dip and a talker adds blips.

Built on per-frame facts (a pitch track, a loudness envelope) as the planner receives them from
core.analysis, so each rule is seen on exactly the situation it answers.
"""

from __future__ import annotations

import numpy as np
import pytest

import core.plan.planner as planner
from core.analysis.clip import Analysis
from core.analysis.pitch import PitchTrack
from core.pipeline import CorrectOptions
from core.score.align import align
from core.score.model import Score
from core.score.songbook import find_tune
from models.units import midi_to_hz
from tests.score_factory import twinkle

HOP_S = 0.01


def jingle_bells() -> Score:
    entry = find_tune("jingle-bells")
    assert entry is not None
    return entry.load()


def in_a_room(score: Score, *, harmonicity_db: float = 9.0, seed: int = 2) -> Analysis:
    """The tune played right, as the planner hears it in an echoing room with a talker: a new
    pitch heard up to 150 ms late (the ring of the note before), each repeat of a pitch one
    sounding note whose re-articulation dips only 3 dB (the echo fills it), and ten of the
    talker's syllables on pitches around the tune."""
    rng = np.random.default_rng(seed)
    spb, notes = 0.5, score.notes
    starts = [30 + round(s.onset_beats * spb / HOP_S) for s in notes]
    ends = [*starts[1:], starts[-1] + round(notes[-1].duration_beats * spb / HOP_S)]
    n = ends[-1] + 30
    f0, env = np.full(n, np.nan), np.full(n, -60.0)
    for k, s in enumerate(notes):
        repeat = k > 0 and notes[k - 1].midi == s.midi
        a = starts[k] + (0 if repeat else int(rng.integers(0, 16)))
        f0[a : ends[k]] = midi_to_hz(s.midi + 0.1)
        env[a : ends[k]] = -20.0 + rng.normal(0.0, 0.3, ends[k] - a)
        if repeat:
            env[a : a + 3] -= 3.0
        elif k:
            f0[starts[k] : a] = midi_to_hz(notes[k - 1].midi + 0.1)
            env[starts[k] : a] = -21.0
    for _ in range(10):
        at = int(rng.integers(40, n - 40))
        f0[at : at + 8] = midi_to_hz(float(rng.choice([58, 59, 61, 63, 73, 75])))
    voiced = np.where(np.isfinite(f0), 0.9, 0.1).astype(np.float32)
    track = PitchTrack(f0, voiced, HOP_S, harmonicity_db=harmonicity_db)
    return Analysis(track, env, f0.copy(), -10.0)


def reading(analysis: Analysis, score: Score) -> tuple[bool, int]:
    """Whether the planner took the take for ``score``, and how many notes it found right."""
    plan = planner.plan_correction(None, 44100, CorrectOptions(score=score), analysis=analysis)
    assert plan.alignment is not None
    return plan.alignment.is_the_tune, plan.alignment.n_ok


def test_a_tune_of_repeats_in_a_room_is_the_tune_once_its_repeats_are_looked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jingle Bells' repeats heard as held notes, late onsets and a talker's blips agree under
    the tune's bar (0.39); the repeats the provisional reading expects are found at their
    3 dB dips, and the re-cut take agrees clearly: the tune, nearly every note right."""
    score = jingle_bells()
    is_tune, right = reading(in_a_room(score), score)
    assert is_tune and right >= 45 and len(score.notes) == 51
    monkeypatch.setattr(planner, "PROVISIONAL_AGREEMENT", 1.0)  # no provisional reading
    assert reading(in_a_room(score), score) == (False, 0)


def test_another_tune_is_not_rescued_by_looking_for_its_repeats() -> None:
    """The same take against Twinkle (repeats too, same range): still not the tune."""
    assert reading(in_a_room(jingle_bells()), twinkle()) == (False, 0)


def test_a_take_that_reads_clean_gets_no_provisional_reading() -> None:
    """Above ATTACKS_HEARD_DB a take's dips are its attacks and the first reading stands."""
    score = jingle_bells()
    assert reading(in_a_room(score, harmonicity_db=25.0), score) == (False, 0)


def test_the_agreement_a_take_must_reach_is_the_callers() -> None:
    """align's bar: the default THE_TUNE_AGREEMENT, or the one asked for."""
    score = twinkle()
    midi = [float(s.midi) for s in score.notes]
    onset = [0.3 + 0.5 * s.onset_beats for s in score.notes]
    offset = [t + 0.4 for t in onset]
    assert align(midi, onset, offset, score).is_the_tune
    assert not align(midi, onset, offset, score, min_agreement=1.01).is_the_tune
