"""The note, scale and instrument tables in data/, read once (pandas for whole tables).

The tables are data, not code, so that adding a scale or an instrument preset is a one-line CSV
edit a musician can review. They are read lazily and cached for the life of the process (the
worker corrects many clips with the same tables); callers get copies so nobody can mutate the
cache. What the correction path needs (scale degrees, instrument ranges) is read with the csv
module, so ``smask correct`` never imports pandas (a third of a second of a cold start).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


@cache
def _read(name: str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(DATA_DIR / name, encoding="utf-8")


@cache
def _rows(name: str) -> tuple[dict[str, str], ...]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))


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
    return {
        row["scale"]: tuple(int(d) for d in row["degrees"].split()) for row in _rows("scales.csv")
    }


@cache
def instrument_notes() -> dict[str, tuple[str, str]]:
    """Instrument preset -> (lowest_note, highest_note) names, in the table's order."""
    return {
        row["instrument"]: (row["lowest_note"], row["highest_note"])
        for row in _rows("instruments.csv")
    }
