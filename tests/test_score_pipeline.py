"""A rendered take checked against its tune, end to end: real tracker, real weights, real PSOLA."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from core.pipeline import CorrectOptions, correct_audio
from core.score.load import load_score
from core.score.model import Score, ScoreNote
from models.training.synth import FLUIDR3, Note, Phrase, fluidsynth_available, render_phrase
from tests.score_factory import LENGTHS, TWINKLE, inline_score, twinkle

if TYPE_CHECKING:
    from models.network import Tracker

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "models" / "weights" / "default.pt"
SR = 44100

pytestmark = [
    pytest.mark.skipif(not WEIGHTS.exists(), reason=f"tracker weights not built yet ({WEIGHTS})"),
    pytest.mark.skipif(
        not fluidsynth_available() or not FLUIDR3.exists(), reason="fluidsynth + FluidR3 needed"
    ),
]

# "Twinkle, twinkle" written at C4, 120 bpm, 4/4.
DETUNE = [30, -25, 0, 35, -40, 20, -30, 25, 0, -35, 40, -20, 30, -25]  # cents, as played
WRONG_AT = 9  # E4 played as D#4 (a semitone low)


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    from models.checkpoint import load_tracker

    return load_tracker("default", "cpu")


@pytest.fixture(scope="module")
def take() -> np.ndarray:
    """A flute an octave above the written tune, a little faster, one wrong note, out of tune."""
    spb = 0.5 / 1.2
    notes, t = [], 0.3
    for j, (m, d) in enumerate(zip(TWINKLE, LENGTHS, strict=True)):
        played = m + 12 + (-1 if j == WRONG_AT else 0)
        notes.append(Note(round(t, 3), round(t + 0.92 * d * spb, 3), played, DETUNE[j]))
        t += d * spb
    return render_phrase(Phrase(notes, duration_s=t + 0.5, program=73), FLUIDR3, SR)


def test_take_checked_against_its_tune(take: np.ndarray, tracker: Tracker) -> None:
    _, report = correct_audio(take, SR, CorrectOptions(score=twinkle()), tracker=tracker)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["score"]["transposition_semitones"] == 12
    assert data["score"]["tempo_ratio"] == pytest.approx(1.2, rel=0.1)
    assert (data["score"]["wrong"], data["score"]["missed"], data["score"]["extra"]) == (1, 0, 0)
    assert data["score"]["matched"] == len(TWINKLE) and data["missed"] == []
    heads = [n for n in data["notes"] if n["onset_error_s"] is not None]
    assert [n["score_index"] for n in heads] == list(range(len(TWINKLE)))
    wrong = [n for n in data["notes"] if n["verdict"] == "wrong"]
    assert [(n["score_index"], n["expected"], n["name"]) for n in wrong] == [(9, "E5", "D#5")]
    for n in data["notes"]:
        if n["verdict"] == "ok":
            # Tuned to the tune's own note (an octave up), intonation as in plain mode.
            assert n["name"] == n["expected"]
            assert abs(n["cents_after"]) < 6.0, n
    assert abs(wrong[0]["cents_after"]) < 6.0  # the wrong note is tuned to what was played
    text = report.to_text("en")
    assert "Note 10 (bar 3): played D#5 instead of E5." in text


def test_fix_wrong_notes_moves_the_wrong_note_onto_the_score(
    take: np.ndarray, tracker: Tracker
) -> None:
    options = CorrectOptions(score=twinkle(), fix_wrong_notes=True)
    out, report = correct_audio(take, SR, options, tracker=tracker)
    wrong = [n for n in report.notes if n.verdict == "wrong"]
    assert len(wrong) == 1 and wrong[0].name == "E5" and wrong[0].played == "D#5"
    assert abs(wrong[0].cents_after) < 6.0
    assert out.shape == (1, len(take))


def test_a_take_that_is_not_the_tune_falls_back_to_nearest_notes(
    take: np.ndarray, tracker: Tracker
) -> None:
    ode = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62, 67, 69, 71, 72, 71, 69]
    other = Score(tuple(ScoreNote(m, 2.0 * i, 2.0, None) for i, m in enumerate(ode)), "inline")
    _, report = correct_audio(take, SR, CorrectOptions(score=other), tracker=tracker)
    data = report.to_dict()
    assert data["score"]["is_the_tune"] is False
    assert data["missed"] == []
    assert all(n["verdict"] is None for n in data["notes"])
    assert "doesn't sound like" in report.to_text("en")


def test_childs_take_against_its_reference_midi(
    tmp_path: Path, tracker: Tracker, shared_dir: Path
) -> None:
    """Every note the child sang is matched to the tune (noises before it are extra)."""
    from core.pipeline import correct_file

    score = load_score(shared_dir / "eval" / "kids_tree_reference.mid")
    report = correct_file(
        shared_dir / "eval" / "kids_tree_portrait.mov",
        tmp_path / "out.mov",
        CorrectOptions(score=score, a4_hz=None),
        tracker=tracker,
    )
    data = report.to_dict()
    assert data["score"]["is_the_tune"] and data["score"]["transposition_semitones"] == 0
    played = [n["score_index"] for n in data["notes"] if n["onset_error_s"] is not None]
    assert played == list(range(len(score.notes)))
    assert data["score"]["matched"] == len(score.notes)
    assert data["score"]["wrong"] == 0 and data["missed"] == []


BUNS = [64, 62, 60, 60, 60, 60, 60, 62, 62, 62, 62, 64, 62, 60]
BUNS_BEATS = [1, 1, 2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 2]


def buns_take(order: list[int]) -> tuple[Score, np.ndarray]:
    """Hot Cross Buns and a flute take of its notes in ``order`` (an octave up, out of tune),
    each re-tongued 18 ms before the next: the level dips only a few dB between repeats."""
    buns = inline_score(BUNS, BUNS_BEATS, "Hot Cross Buns")
    detune = [20, -15, 10, -25, 30, -10, 15, -30, 25, -20, 5, -5, 35, -35]
    played, t = [], 0.3
    for k, j in enumerate(order):
        length = buns.notes[j].duration_beats * 0.45
        cents = detune[k % len(detune)]
        played.append(Note(round(t, 3), round(t + 0.92 * length, 3), BUNS[j] + 12, cents))
        t += length
    return buns, render_phrase(Phrase(played, duration_s=t + 0.5, program=73), FLUIDR3, SR)


def test_softly_re_tongued_repeats_each_get_their_own_note(tracker: Tracker) -> None:
    """Hot Cross Buns' "one a penny, two a penny": runs of repeated eighths on a flute. The
    note cutter alone hears long notes; against the tune every repeat is found, none missed
    or held."""
    from core.plan.planner import plan_correction

    written = BUNS
    buns, take = buns_take(list(range(len(written))))
    plain = plan_correction(take, SR, CorrectOptions(), tracker=tracker)
    assert len(plain.targets) < len(written)  # the cutter alone merges some repeats
    plan = plan_correction(take, SR, CorrectOptions(score=buns), tracker=tracker)
    al = plan.alignment
    assert al is not None and al.is_the_tune and al.transposition_semitones == 12
    heads = [m.score_index for m in al.matches if m.onset_error_s is not None]
    assert heads == list(range(len(written)))
    assert al.missed == () and al.held == () and al.n_wrong == 0


def test_repeats_before_a_jump_back_get_their_own_notes(tracker: Tracker) -> None:
    """The learner plays into "one a penny" (two re-tongued Cs), then starts the tune again.
    Going back right after the first C, the alignment never visits the second one (neither
    missed nor held), yet the first note sounds through where it belongs: it is looked for
    there and found, so the Cs are two notes and the reading is the one played."""
    from core.plan.planner import plan_correction

    order = [0, 1, 2, 3, 4, *range(len(BUNS))]
    buns, take = buns_take(order)
    plain = plan_correction(take, SR, CorrectOptions(), tracker=tracker)
    assert len(plain.targets) < len(order)  # the cutter alone merges the Cs before the jump
    plan = plan_correction(take, SR, CorrectOptions(score=buns), tracker=tracker)
    al = plan.alignment
    assert al is not None and al.is_the_tune
    heads = [m.score_index for m in al.matches if m.onset_error_s is not None]
    assert heads == order
    assert al.missed == () and al.held == () and al.n_wrong == 0


def test_a_dip_is_taken_for_a_re_strike_only_in_a_take_that_reads_clean(
    tracker: Tracker,
) -> None:
    """Twinkle's long G re-tongued halfway, where the tune has one G: in a take that reads
    clean the second G is an extra note. The same take read as if in a noisy room (its
    harmonicity under ATTACKS_HEARD_DB), where an echo or the noise makes such dips inside
    held notes, keeps the G one note, and a learner who played it right hears nothing."""
    from core.analysis.clip import analyse
    from core.media.spool import ArraySource
    from core.plan.planner import ATTACKS_HEARD_DB, plan_correction

    spb = 0.5 / 1.2
    notes, t = [], 0.3
    for j, (m, d) in enumerate(zip(TWINKLE, LENGTHS, strict=True)):
        if j == 6:  # the half-note G, tongued again after a beat: two notes, no gap
            notes.append(Note(round(t, 3), round(t + 0.96 * spb, 3), m + 12, 0))
            notes.append(Note(round(t + spb, 3), round(t + 0.92 * d * spb, 3), m + 12, 0))
        else:
            notes.append(Note(round(t, 3), round(t + 0.92 * d * spb, 3), m + 12, 0))
        t += d * spb
    audio = render_phrase(Phrase(notes, duration_s=t + 0.5, program=73), FLUIDR3, SR)
    analysis = analyse(ArraySource(audio[np.newaxis].astype(np.float32), SR), tracker=tracker)
    assert analysis.track.harmonicity_db >= ATTACKS_HEARD_DB  # a dry render reads clean

    def extras(harmonicity_db: float) -> int:
        track = replace(analysis.track, harmonicity_db=harmonicity_db)
        plan = plan_correction(None, SR, CorrectOptions(score=twinkle()),
                               analysis=replace(analysis, track=track))  # fmt: skip
        assert plan.alignment is not None and plan.alignment.is_the_tune
        assert plan.alignment.missed == () and plan.alignment.n_wrong == 0
        return plan.alignment.n_extra

    assert extras(analysis.track.harmonicity_db) == 1
    assert extras(ATTACKS_HEARD_DB - 6.0) == 0
