"""The tune a take is checked against (placeholder to the score-in contract).

score-in owns this module (parsers for MIDI / MusicXML / note names, the songbook); until it
lands on main this is exactly the contract's dataclasses plus a tiny note-name parser, so that
core.align and its tests can be written against it. On merge, score-in's version wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_SCORE_NOTES = 5000
_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class ScoreNote:
    midi: int  # written pitch, MIDI number (60 = C4)
    onset_beats: float  # quarter-note beats from the score's start
    duration_beats: float  # quarter-note beats (> 0)
    bar: int | None  # 1-based bar number when the score has a time signature, else None
    beat_in_bar: float | None = None  # 1-based beat within its bar, else None


@dataclass(frozen=True)
class Score:
    notes: tuple[ScoreNote, ...]
    source: str
    title: str | None = None
    seconds_per_beat: float = 0.5
    has_meter: bool = False

    def onset_s(self) -> npt.NDArray[np.float64]:
        return np.array([n.onset_beats for n in self.notes], dtype=np.float64) * (
            self.seconds_per_beat
        )

    def duration_s(self) -> npt.NDArray[np.float64]:
        return np.array([n.duration_beats for n in self.notes], dtype=np.float64) * (
            self.seconds_per_beat
        )

    def midi(self) -> npt.NDArray[np.int64]:
        return np.array([n.midi for n in self.notes], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "seconds_per_beat": self.seconds_per_beat,
            "has_meter": self.has_meter,
            "notes": [
                [n.midi, n.onset_beats, n.duration_beats, n.bar, n.beat_in_bar] for n in self.notes
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Score:
        return cls(
            notes=tuple(
                ScoreNote(int(m), float(o), float(du), b, bb) for m, o, du, b, bb in d["notes"]
            ),
            source=str(d["source"]),
            title=d.get("title"),
            seconds_per_beat=float(d.get("seconds_per_beat", 0.5)),
            has_meter=bool(d.get("has_meter", False)),
        )

    def describe(self, lang: str = "ru") -> str:
        first = " ".join(_name(n.midi) for n in self.notes[:8])
        return f"{self.title or self.source}: {len(self.notes)} notes ({first} ...)"


def _name(midi: int) -> str:
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    return f"{names[midi % 12]}{midi // 12 - 1}"


def parse_note_names(text: str) -> Score:
    """ "E4 D4 C4" or "E D C" (each nearest the previous, the first in octave 4); 1 beat each."""
    notes: list[ScoreNote] = []
    previous: int | None = None
    for i, token in enumerate(text.split()):
        m = re.fullmatch(r"([A-Ga-g])([#b]?)(-?\d)?", token)
        if m is None:
            raise ValueError(f"not a note name: {token!r}")
        pc = _NAMES[m.group(1).upper()] + {"#": 1, "b": -1, "": 0}[m.group(2)]
        if m.group(3) is not None:
            midi = 12 * (int(m.group(3)) + 1) + pc
        elif previous is None:
            midi = 60 + pc
        else:
            midi = min(previous + d for d in range(-6, 7) if (previous + d - pc) % 12 == 0)
        notes.append(ScoreNote(midi, float(i), 1.0, None))
        previous = midi
    return Score(tuple(notes), "inline")
