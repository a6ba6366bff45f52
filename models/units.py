"""Conversions between Hz, MIDI numbers, cents and note names.

Names carry units (``hz_to_midi``); arrays in, arrays out, NaN passes through as "no pitch".
"""

from __future__ import annotations

import math
import re

import numpy as np
import numpy.typing as npt

A4_HZ = 440.0  # Hz, concert pitch
A4_MIDI = 69
CENTS_PER_SEMITONE = 100.0
CENTS_PER_OCTAVE = 1200.0

NOTE_NAMES_SHARP = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
_NOTE_RE = re.compile(r"^\s*([A-Ga-g])([#b♯♭]?)(-?\d+)\s*$")

FloatArray = npt.NDArray[np.floating]


def hz_to_midi(f0_hz: FloatArray | float, *, a4_hz: float = A4_HZ) -> FloatArray:
    """Fractional MIDI number; 0 Hz and NaN become NaN."""
    f = np.asarray(f0_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = A4_MIDI + 12.0 * np.log2(f / a4_hz)
    return np.where(f > 0, out, np.nan)


def midi_to_hz(midi: FloatArray | float, *, a4_hz: float = A4_HZ) -> FloatArray:
    return a4_hz * np.power(2.0, (np.asarray(midi, dtype=np.float64) - A4_MIDI) / 12.0)


def hz_to_cents(f0_hz: FloatArray | float, ref_hz: FloatArray | float) -> FloatArray:
    """Cents of ``f0_hz`` above ``ref_hz`` (negative when below)."""
    f = np.asarray(f0_hz, dtype=np.float64)
    r = np.asarray(ref_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = CENTS_PER_OCTAVE * np.log2(f / r)
    return np.where((f > 0) & (r > 0), out, np.nan)


def cents_to_ratio(cents: FloatArray | float) -> FloatArray:
    return np.power(2.0, np.asarray(cents, dtype=np.float64) / CENTS_PER_OCTAVE)


def cents_off_nearest(f0_hz: FloatArray | float, *, a4_hz: float = A4_HZ) -> FloatArray:
    """Signed distance in cents to the nearest equal-tempered note, in [-50, 50)."""
    midi = hz_to_midi(f0_hz, a4_hz=a4_hz)
    return (midi - np.round(midi)) * CENTS_PER_SEMITONE


def midi_to_note_name(midi: int | float) -> str:
    """Scientific pitch name with sharps: 60 -> 'C4', 70 -> 'A#4'."""
    m = round(float(midi))
    return f"{NOTE_NAMES_SHARP[m % 12]}{m // 12 - 1}"


def note_name_to_midi(name: str) -> int:
    """'C4' -> 60, 'Bb3' -> 58, 'F#5' -> 78. Raises ValueError on anything else."""
    match = _NOTE_RE.match(name)
    if not match:
        raise ValueError(f"not a note name: {name!r}")
    letter, accidental, octave = match.groups()
    accidental = {"♯": "#", "♭": "b"}.get(accidental, accidental)
    pitch = letter.upper() + accidental
    pitch = _FLAT_TO_SHARP.get(pitch, pitch)
    if pitch == "E#":
        pitch, shift = "F", 0
    elif pitch == "B#":
        pitch, shift = "C", 12
    else:
        shift = 0
    return NOTE_NAMES_SHARP.index(pitch) + 12 * (int(octave) + 1) + shift


def pitch_class(name: str) -> int:
    """'D' -> 2, 'Bb' -> 10: a key's tonic without an octave."""
    return note_name_to_midi(f"{name}4") % 12


def is_finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
