"""The bundled songbook: public-domain tunes a beginner plays, scales and arpeggios.

Songs live in data/songbook/tunes.toml (one ``[[tune]]`` each, notes in the inline syntax of
core.score.typed, checked bar by bar against the meter by tests/test_score.py); scales and
arpeggios in the keys a beginner meets first are generated here, never typed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from core.score.model import (
    Meter,
    RawNote,
    Score,
    parse_meter,
    score_from_raw,
    seconds_per_beat_from_bpm,
)
from core.score.typed import parse_note_names

SONGBOOK_PATH = Path(__file__).resolve().parents[2] / "data" / "songbook" / "tunes.toml"


@dataclass(frozen=True)
class SongbookEntry:
    """A tune bundled with smask; ``load()`` builds its Score (cached)."""

    id: str
    title_ru: str
    title_en: str
    kind: str  # "song", "scale" or "arpeggio"
    loader: Callable[[], Score] = field(repr=False, compare=False)

    def load(self) -> Score:
        return self.loader()

    def title(self, lang: str = "ru") -> str:
        return self.title_ru if lang == "ru" else self.title_en


_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11, 12)
_NATURAL_MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10, 12)
# Keys a beginner meets first; tonic written in the middle of the treble/voice range.
_SCALE_KEYS: tuple[tuple[str, str, int, str, str], ...] = (
    # id, quality, tonic midi, Russian name, English name
    ("c", "major", 60, "до мажор", "C major"),
    ("g", "major", 55, "соль мажор", "G major"),
    ("d", "major", 62, "ре мажор", "D major"),
    ("a", "major", 57, "ля мажор", "A major"),
    ("f", "major", 65, "фа мажор", "F major"),
    ("bb", "major", 58, "си-бемоль мажор", "B-flat major"),
    ("eb", "major", 63, "ми-бемоль мажор", "E-flat major"),
    ("a", "minor", 57, "ля минор", "A minor"),
    ("e", "minor", 64, "ми минор", "E minor"),
    ("d", "minor", 62, "ре минор", "D minor"),
    ("g", "minor", 55, "соль минор", "G minor"),
    ("c", "minor", 60, "до минор", "C minor"),
)
_EXERCISE_BPM = 80.0


def _exercise(entry_id: str, midis: Sequence[int], title: str) -> Score:
    """Quarter notes in 4/4, the last one a half note: how a scale is first practised."""
    raw = [RawNote(float(k), 1.0, m) for k, m in enumerate(midis)]
    raw[-1] = RawNote(raw[-1].onset_beats, 2.0, raw[-1].midi)
    return score_from_raw(
        raw,
        source=f"songbook:{entry_id}",
        title=title,
        seconds_per_beat=seconds_per_beat_from_bpm(_EXERCISE_BPM),
        meters=[Meter(0.0, 4, 4)],
    )


def _exercises() -> list[SongbookEntry]:
    entries: list[SongbookEntry] = []
    for key, quality, tonic, ru, en in _SCALE_KEYS:
        steps = _MAJOR_STEPS if quality == "major" else _NATURAL_MINOR_STEPS
        scale = [tonic + s for s in steps]
        up_down = scale + scale[-2::-1]
        arpeggio = [tonic + steps[i] for i in (0, 2, 4, 7, 4, 2, 0)]
        minor_ru = " (натуральный)" if quality == "minor" else ""
        minor_en = " (natural)" if quality == "minor" else ""
        scale_id = f"{key}-{quality}-scale"
        arp_id = f"{key}-{quality}-arpeggio"
        scale_ru, scale_en = f"Гамма {ru}{minor_ru}", f"{en} scale{minor_en}"
        arp_ru, arp_en = f"Арпеджио {ru}", f"{en} arpeggio"
        entries.append(
            SongbookEntry(
                scale_id,
                scale_ru,
                scale_en,
                "scale",
                cache(lambda i=scale_id, n=tuple(up_down), t=scale_en: _exercise(i, n, t)),
            )
        )
        entries.append(
            SongbookEntry(
                arp_id,
                arp_ru,
                arp_en,
                "arpeggio",
                cache(lambda i=arp_id, n=tuple(arpeggio), t=arp_en: _exercise(i, n, t)),
            )
        )
    return entries


def _tune_score(raw: Mapping[str, Any]) -> Score:
    tune_id = str(raw["id"])
    typed = parse_note_names(str(raw["notes"]))
    meter = parse_meter(str(raw["meter"]))
    pickup = float(raw.get("pickup_beats", 0.0))
    return score_from_raw(
        [RawNote(n.onset_beats, n.duration_beats, n.midi) for n in typed.notes],
        source=f"songbook:{tune_id}",
        title=str(raw["title_en"]),
        seconds_per_beat=seconds_per_beat_from_bpm(float(raw["tempo_bpm"])),
        meters=[meter],
        pickup_beats=pickup,
    )


@cache
def _songbook() -> tuple[SongbookEntry, ...]:
    with SONGBOOK_PATH.open("rb") as f:
        table = tomllib.load(f)
    entries = [
        SongbookEntry(
            str(raw["id"]),
            str(raw["title_ru"]),
            str(raw["title_en"]),
            "song",
            cache(lambda r=raw: _tune_score(r)),
        )
        for raw in table["tune"]
    ]
    return tuple(entries + _exercises())


def songbook() -> list[SongbookEntry]:
    """Every bundled tune: the songs of data/songbook/tunes.toml, then scales and arpeggios."""
    return list(_songbook())


def _normalised(text: str) -> str:
    text = text.lower().replace("ё", "е").replace("_", "-")
    text = re.sub(r"[«»“”\"'!?.,()]", " ", text)
    return " ".join(text.replace("-", " ").split())


def find_tune(name: str) -> SongbookEntry | None:
    """The songbook entry whose id or title (ru or en) is ``name``, ignoring case and ё."""
    wanted = _normalised(name)
    if not wanted:
        return None
    for entry in _songbook():
        if wanted in (
            _normalised(entry.id),
            _normalised(entry.title_ru),
            _normalised(entry.title_en),
        ):
            return entry
    return None


def find_tune_by_part(name: str) -> SongbookEntry | None:
    """A unique songbook entry whose title contains ``name`` ("берёза", "jingle")."""
    wanted = _normalised(name)
    if len(wanted) < 3:
        return None
    found = [
        e
        for e in _songbook()
        if wanted in _normalised(e.title_ru) or wanted in _normalised(e.title_en)
    ]
    return found[0] if len(found) == 1 else None
