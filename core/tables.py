"""The note, scale and instrument tables in data/, read once through pandas.

The tables are data, not code, so that adding a scale or an instrument preset is a one-line CSV
edit a musician can review. They are read lazily and cached for the life of the process (the
worker corrects many clips with the same tables); callers get copies so nobody can mutate the
cache.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@cache
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / name, encoding="utf-8")


def notes_frequency() -> pd.DataFrame:
    """Columns ``note, octave, midi, frequency_hz`` (A4 = 440 Hz), C0..B8."""
    return _read("notes_frequency.csv").copy()


def pitch_names() -> pd.DataFrame:
    """Columns ``pitch_class, sharp, flat, solfege_ru, solfege_en``, one row per pitch class."""
    return _read("pitch_names.csv").copy()


def scales() -> pd.DataFrame:
    """Columns ``scale, degrees`` (space-separated semitones above the tonic)."""
    return _read("scales.csv").copy()


def instruments() -> pd.DataFrame:
    """Columns ``instrument, lowest_note, highest_note, gm_program, description``."""
    return _read("instruments.csv").copy()


@cache
def scale_degrees() -> dict[str, tuple[int, ...]]:
    """Scale name -> semitones above the tonic: ``'major' -> (0, 2, 4, 5, 7, 9, 11)``."""
    table = _read("scales.csv")
    return {
        str(row.scale): tuple(int(d) for d in str(row.degrees).split())
        for row in table.itertuples(index=False)
    }
