"""Keys, scales, A4 and instrument ranges, read from the data/ tables."""

from __future__ import annotations

import numpy as np
import pytest

from core.plan import tables
from core.plan.scales import (
    CHROMATIC,
    Key,
    detect_key,
    estimate_a4,
    instrument_names,
    instrument_range,
    nearest_allowed_midi,
    parse_key,
    scale_names,
)


def test_tables_are_consistent() -> None:
    notes = tables.notes_frequency()
    a4 = notes[(notes["note"] == "A") & (notes["octave"] == 4)]
    assert float(a4["frequency_hz"].iloc[0]) == 440.0 and int(a4["midi"].iloc[0]) == 69
    assert len(notes) == 108 and len(tables.pitch_names()) == 12
    assert instrument_names()[0] == "flute"
    for name in ("major", "minor", "harmonic_minor", "chromatic", "major_pentatonic",
                 "minor_pentatonic"):  # fmt: skip
        assert name in scale_names()
    notes.loc[0, "frequency_hz"] = -1.0  # callers get copies; the cache stays clean
    assert float(tables.notes_frequency()["frequency_hz"].iloc[0]) > 0


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("D", None, Key(2, "major")),
        ("D", "minor", Key(2, "minor")),
        ("F#m", None, Key(6, "minor")),
        ("Bbm", None, Key(10, "minor")),
        ("Eb", "harmonic_minor", Key(3, "harmonic_minor")),
        ("A minor_pentatonic", None, Key(9, "minor_pentatonic")),
    ],
)
def test_parse_key(text: str, scale: str | None, expected: Key) -> None:
    assert parse_key(text, scale) == expected


@pytest.mark.parametrize(("text", "scale"), [("H", None), ("D", "lydian_flat13"), ("", None)])
def test_parse_key_refuses_unknown_names(text: str, scale: str | None) -> None:
    with pytest.raises((ValueError, IndexError)):
        parse_key(text, scale)


def test_scale_pitch_classes() -> None:
    assert Key(2, "major").pitch_classes == frozenset({2, 4, 6, 7, 9, 11, 1})
    assert Key(9, "harmonic_minor").pitch_classes == frozenset({9, 11, 0, 2, 4, 5, 8})
    assert CHROMATIC.allowed_mask().all()


def test_detect_key_major_and_minor() -> None:
    d_major = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62, 74]
    assert detect_key(d_major) == Key(2, "major")
    a_minor = [57, 59, 60, 62, 64, 65, 67, 69, 64, 60, 57, 57, 64]
    assert detect_key(a_minor) == Key(9, "minor")
    assert detect_key(a_minor, scale="minor").tonic_pc == 9


def test_estimate_a4_from_a_band_tuned_sharp() -> None:
    rng = np.random.default_rng(0)
    midi = rng.integers(60, 84, 400) + rng.normal(0.0, 0.03, 400)
    f0 = 446.0 * 2 ** ((midi - 69) / 12)
    assert abs(estimate_a4(f0) - 446.0) < 0.3
    assert estimate_a4(np.array([np.nan])) == 440.0


def test_instrument_ranges() -> None:
    assert instrument_range("flute") == (60, 98)
    assert instrument_range("Violin") == (55, 105)
    with pytest.raises(ValueError, match="flute"):
        instrument_range("theremin")


def test_nearest_allowed_with_hysteresis_and_key_preference() -> None:
    chromatic = CHROMATIC.allowed_mask()
    assert nearest_allowed_midi(60.4, chromatic) == 60
    assert nearest_allowed_midi(60.55, chromatic) == 61
    # Just past the midpoint, the previous note's target holds...
    assert nearest_allowed_midi(60.55, chromatic, previous=60, hysteresis_cents=15) == 60
    # ...but not once the note is clearly the other one.
    assert nearest_allowed_midi(60.7, chromatic, previous=60, hysteresis_cents=15) == 61
    c_major = Key(0, "major").allowed_mask()
    assert nearest_allowed_midi(60.8, c_major) == 60  # C# is not in C major
    assert nearest_allowed_midi(65.45, chromatic, preferred=c_major, prefer_cents=15) == 65
    assert nearest_allowed_midi(65.45, chromatic) == 65
    assert nearest_allowed_midi(65.6, chromatic, preferred=c_major, prefer_cents=15) == 65
