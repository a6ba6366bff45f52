"""Typed tunes a learner can check (issue 23, point 3): octave marks in solfège and Latin names,
guessed octaves said aloud, the whole tune listed, and no rhythm judged where none was typed."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np
import pytest

from core.errors import ScoreUnknown
from core.notation import note_name
from core.pipeline import CorrectOptions, correct_audio
from core.plan.scales import Key, parse_key, split_key
from core.score.describe import describe_score_in_full, guessed_octaves_line
from core.score.load import load_score, parse_note_names
from core.score.model import Score
from models.training.synth import FLUIDR3, Note, Phrase, fluidsynth_available, render_phrase

if TYPE_CHECKING:
    from models.network import Tracker

ELOCHKA = "соль ми ми соль ми ми соль фа ми ре до ля до ля соль ми ми соль фа ми ре до"


def midis(text: str) -> list[int]:
    return parse_note_names(text).midi().tolist()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ми1 ре1 до2", [64, 62, 72]),  # the Russian school's numbers: ми1 = ми первой октавы
        ("ми¹ до² ля³", [64, 72, 93]),
        ("ми первой октавы ре второй октавы", [64, 74]),
        ("ля малой си малой до первой", [57, 59, 60]),
        ("соль большой октавы до контроктавы ля субконтроктавы", [43, 24, 21]),
        ("фа♯¹ си♭ малой", [66, 58]),  # what core.notation prints reads back
        ("до-диез1 ре-бемоль2/2", [61, 73]),
        ("E4 e' e'' c¹ C5", [64, 64, 76, 60, 72]),  # scientific, Helmholtz, Russian superscript
    ],
)
def test_octave_marks(text: str, expected: list[int]) -> None:
    score = parse_note_names(text)
    assert score.midi().tolist() == expected
    assert score.guessed_octaves == ()


def test_unmarked_octaves_are_guessed_and_recorded() -> None:
    score = parse_note_names("ми1 ре до ля малой си")
    assert score.midi().tolist() == [64, 62, 60, 57, 59]
    assert score.guessed_octaves == (1, 2, 4)
    # Notes before the first written octave are guessed back from it.
    before = parse_note_names("соль ми ми соль2")
    assert before.midi().tolist() == [79, 76, 76, 79] and before.guessed_octaves == (0, 1, 2)
    assert parse_note_names(ELOCHKA).guessed_octaves == tuple(range(22))


@pytest.mark.parametrize("text", ["ми первой первой", "октавы ми", "ми1 малой", "ми6", "малой"])
def test_octave_marks_that_make_no_sense(text: str) -> None:
    with pytest.raises(ScoreUnknown):
        parse_note_names(text)


def test_timed_only_where_a_length_was_written() -> None:
    assert not parse_note_names("ми ре до | ре ми").timed
    assert parse_note_names("ми1/2 ре1 до1").timed
    assert load_score("twinkle").timed  # the songbook has lengths


def test_guessed_octaves_and_timing_survive_storage() -> None:
    score = parse_note_names("ми1 ре до")
    again = Score.from_dict(score.to_dict())
    assert again == score and again.guessed_octaves == (1, 2) and not again.timed
    # A typed tune stored before these fields had no lengths either.
    old = {k: v for k, v in score.to_dict().items() if k not in ("guessed_octaves", "timed")}
    assert not Score.from_dict(old).timed and Score.from_dict(old).guessed_octaves == ()
    assert Score.from_dict({**old, "source": "midi:a.mid"}).timed


def test_the_confirmation_lists_every_note_and_where_octaves_were_guessed() -> None:
    score = parse_note_names(ELOCHKA)
    for lang in ("ru", "en"):
        lines = describe_score_in_full(score, lang)
        listed = [n for line in lines[1:-1] for n in line.split(": ", 1)[1].split(" ")]
        names = [note_name(m, lang) for m in score.midi().tolist()]
        # Russian names below the first octave are two words («ля малой»).
        assert " ".join(listed) == " ".join(names)
        assert lines[-1] == guessed_octaves_line(score, lang)
    assert "угадал у всех нот" in describe_score_in_full(score, "ru")[-1]
    partly = describe_score_in_full(parse_note_names("ми1 ре до фа1 соль"), "ru")[-1]
    assert "у нот 2–3, 5" in partly and "ми1" in partly
    assert guessed_octaves_line(parse_note_names("ми1 ре1"), "ru") is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ре минор", Key(2, "minor")),
        ("фа-диез минор", Key(6, "minor")),
        ("Фа диез минор", Key(6, "minor")),
        ("си-бемоль мажор", Key(10, "major")),
        ("до мажор", Key(0, "major")),
        ("ля гармонический минор", Key(9, "harmonic_minor")),
        ("d-moll", Key(2, "minor")),
        ("B flat major", Key(10, "major")),
    ],
)
def test_russian_and_spelled_out_keys(text: str, key: Key) -> None:
    # --scale defaults to major: a scale the key's own words name wins over it.
    assert parse_key(text, "major") == key


def test_a_key_keeps_its_spelling() -> None:
    assert split_key("си-бемоль мажор") == ("Bb", "major")
    assert split_key("фа-диез") == ("F#", None)
    with pytest.raises(ValueError):
        split_key("ре минорчик")


def test_the_cli_takes_a_russian_key(tmp_path: Path) -> None:
    """``smask correct --key "ре минор"`` corrects in D minor (report.json says so)."""
    import json
    import subprocess
    import sys
    import wave

    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 349.23 * 1.01 * t)  # F4, 17 cents sharp
    with wave.open(str(tmp_path / "in.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sr)
        out.writeframes((tone * 32767).astype("<i2").tobytes())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smask",
            "correct",
            str(tmp_path / "in.wav"),
            "-o",
            str(tmp_path / "out.wav"),
            "--key",
            "ре минор",
            "--report",
            str(tmp_path / "r.json"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["key"] == "D minor"


# --- no rhythm judged where none was typed: the real pipeline on a rendered take ------------

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights" / "default.pt"
TWINKLE = [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60]
LENGTHS = [1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2]
SR = 44100
needs_synth = pytest.mark.skipif(
    not WEIGHTS.exists() or not fluidsynth_available() or not FLUIDR3.exists(),
    reason="tracker weights and fluidsynth + FluidR3 needed",
)


def _twinkle_midi(path: Path) -> Score:
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    for m, d in zip(TWINKLE, LENGTHS, strict=True):
        track.append(mido.Message("note_on", note=m, velocity=80, time=0))
        track.append(mido.Message("note_off", note=m, time=480 * d))
    mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    path.write_bytes(buffer.getvalue())
    return load_score(path)


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    from models.checkpoint import load_tracker

    return load_tracker("default", "cpu")


@needs_synth
def test_a_typed_tune_gets_no_tempo_or_onset_remarks(tracker: Tracker, tmp_path: Path) -> None:
    """Twinkle played as written (two half notes), one note a beat late: the MIDI tune names
    the tempo and the late note; the same notes typed without lengths name neither."""
    spb, notes, t = 0.5, [], 0.3
    for j, (m, d) in enumerate(zip(TWINKLE, LENGTHS, strict=True)):
        t += 0.5 if j == 4 else 0.0  # note 5 comes in a beat late
        notes.append(Note(round(t, 3), round(t + 0.9 * d * spb, 3), m, 0))
        t += d * spb
    take = render_phrase(Phrase(notes, duration_s=t + 0.5, program=73), FLUIDR3, SR)
    typed = parse_note_names("до до соль соль ля ля соль фа фа ми ми ре ре до")
    assert not typed.timed
    _, by_file = correct_audio(
        take, SR, CorrectOptions(score=_twinkle_midi(tmp_path / "t.mid")), tracker=tracker
    )
    _, by_names = correct_audio(take, SR, CorrectOptions(score=typed), tracker=tracker)
    assert by_file.score is not None and by_names.score is not None
    assert by_names.score.is_the_tune and by_names.score.wrong == 0
    assert by_names.to_dict()["score"]["tempo_ratio"] is None
    for lang, tempo, late in (("ru", "темп", "вступление"), ("en", "tempo", "came in")):
        with_rhythm, without = by_file.to_text(lang), by_names.to_text(lang)
        assert tempo in with_rhythm and late in with_rhythm, with_rhythm
        assert tempo not in without and late not in without, without
