"""Notes, keys and numbers as a Russian music-school child reads them, and Latin in English."""

from __future__ import annotations

import pytest

from core.notation import a4_text, instrument_name, key_name, note_name, number, signed


@pytest.mark.parametrize(
    ("midi", "short", "long"),
    [
        (64, "ми¹", "ми первой октавы"),
        (72, "до²", "до второй октавы"),
        (66, "фа♯¹", "фа-диез первой октавы"),
        (57, "ля малой", "ля малой октавы"),
        (43, "соль большой", "соль большой октавы"),
        (33, "ля контроктавы", "ля контроктавы"),
        (96, "до⁴", "до четвёртой октавы"),
    ],
)
def test_russian_names_carry_the_octave_the_russian_way(midi: int, short: str, long: str) -> None:
    assert note_name(midi, "ru") == short
    assert note_name(midi, "ru", long=True) == long


def test_stored_latin_names_are_read_and_english_keeps_them() -> None:
    assert note_name("E4", "ru") == "ми¹" and note_name("E4", "en") == "E4"
    assert note_name("A#3", "ru", flats=True) == "си♭ малой"
    assert note_name(70, "en", flats=True) == "Bb4" and note_name(70, "en") == "A#4"


def test_keys_are_spelled_as_their_signature() -> None:
    assert key_name("C major", "ru") == "до мажор"
    assert key_name("F# minor", "ru") == "фа-диез минор"
    assert key_name("A# major", "ru") == "си-бемоль мажор"  # the key finder's sharp, respelled
    assert key_name("C# major", "ru", respell=False) == "до-диез мажор"  # as the learner typed
    assert key_name("D harmonic_minor", "ru") == "ре гармонический минор"
    assert key_name("A# major", "en") == "Bb major"


def test_numbers_take_a_comma_in_russian() -> None:
    assert number(8.44, "ru") == "8,4" and number(8.44, "en") == "8.4"
    assert number(440.0, "ru", 1, trim=True) == "440" and signed(12.4, "ru") == "+12"
    assert a4_text(442.5, "ru") == "ля первой октавы = 442,5 Гц"
    assert a4_text(440.0, "en") == "A4 = 440 Hz"
    assert instrument_name("flute", "ru") == "флейта" and instrument_name("flute", "en") == "flute"
