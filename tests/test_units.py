from __future__ import annotations

import math

import numpy as np
import pytest

from models import units


def test_hz_midi_round_trip_and_nan_for_no_pitch() -> None:
    f = np.array([440.0, 261.6255653, 0.0, np.nan])
    midi = units.hz_to_midi(f)
    assert midi[0] == pytest.approx(69.0)
    assert midi[1] == pytest.approx(60.0, abs=1e-6)
    assert math.isnan(midi[2]) and math.isnan(midi[3])
    assert units.midi_to_hz(midi[:2]) == pytest.approx(f[:2])


def test_a4_reference_shifts_every_note() -> None:
    assert units.hz_to_midi(442.0, a4_hz=442.0) == pytest.approx(69.0)
    assert units.midi_to_hz(60, a4_hz=432.0) == pytest.approx(432.0 * 2 ** (-9 / 12))


def test_cents_are_signed_and_an_octave_is_1200() -> None:
    assert units.hz_to_cents(880.0, 440.0) == pytest.approx(1200.0)
    assert units.hz_to_cents(440.0, 880.0) == pytest.approx(-1200.0)
    assert units.cents_to_ratio(100.0) == pytest.approx(2 ** (1 / 12))
    sharp = 440.0 * units.cents_to_ratio(23.0)
    assert units.cents_off_nearest(sharp) == pytest.approx(23.0)
    flat = 440.0 * units.cents_to_ratio(-41.0)
    assert units.cents_off_nearest(flat) == pytest.approx(-41.0)


@pytest.mark.parametrize(
    ("name", "midi"),
    [("C4", 60), ("A4", 69), ("A#4", 70), ("Bb3", 58), ("F#5", 78), ("C-1", 0), ("B#3", 60)],
)
def test_note_names(name: str, midi: int) -> None:
    assert units.note_name_to_midi(name) == midi


def test_note_name_from_midi_uses_sharps() -> None:
    assert units.midi_to_note_name(70) == "A#4"
    assert units.midi_to_note_name(60.4) == "C4"


@pytest.mark.parametrize("bad", ["H4", "C", "4", "", "Cx4"])
def test_bad_note_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        units.note_name_to_midi(bad)


def test_pitch_class_of_a_tonic() -> None:
    assert units.pitch_class("D") == 2
    assert units.pitch_class("Bb") == 10
