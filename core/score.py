"""The tune a learner meant to play: its melody as written, from a file, a name or note names.

A score comes from one of four places (``load_score`` tries them in this order):

* a file, judged by its bytes, never its name: ``MThd`` -> MIDI (type 0 or 1), a zip holding
  ``META-INF/container.xml`` -> compressed MusicXML (``.mxl``), XML whose root is
  ``<score-partwise>``/``<score-timewise>`` -> MusicXML. Readers live in core/score_files.py;
* a tune of the bundled songbook (data/songbook/tunes.toml plus generated scales and
  arpeggios), by id or title, Russian or English;
* note names typed inline, see :func:`parse_note_names`.

The melody is always monophonic: where the chosen track or part has chords, its top line.
Everything the aligner needs is here; nothing in this module imports MIDI or XML libraries, so
``smask correct`` without ``--score`` pays nothing for them.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ScoreEmpty, ScoreTooLarge, ScoreUnknown, ScoreUnreadable
from models.units import midi_to_note_name

MAX_SCORE_NOTES = 5000
DEFAULT_SECONDS_PER_BEAT = 0.5  # 120 quarter notes a minute when the score names no tempo
SONGBOOK_PATH = Path(__file__).resolve().parents[1] / "data" / "songbook" / "tunes.toml"
_TEMPO_BPM_RANGE = (20.0, 400.0)  # a tempo mark outside this is a typo: the default is used


@dataclass(frozen=True)
class ScoreNote:
    """One written note of the melody."""

    midi: int  # written pitch, MIDI number (60 = C4)
    onset_beats: float  # quarter-note beats from the score's start
    duration_beats: float  # quarter-note beats (> 0)
    bar: int | None  # 1-based bar number when the score has a time signature, else None
    beat_in_bar: float | None = None  # 1-based beat within its bar, else None


@dataclass(frozen=True)
class Score:
    """A melody to check a take against.

    ``notes`` are sorted by onset and never overlap; rests are the gaps between them.
    ``seconds_per_beat`` is the score's own tempo, only a starting guess for the aligner: the
    learner plays at their own.
    """

    notes: tuple[ScoreNote, ...]
    source: str  # "midi:<file name>", "musicxml:<file name>", "inline", "songbook:<id>"
    title: str | None = None
    seconds_per_beat: float = DEFAULT_SECONDS_PER_BEAT
    has_meter: bool = False  # True when bar numbers are meaningful

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
        """JSON-safe and compact: the bot keeps each user's tune with it."""
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
        """The inverse of :meth:`to_dict`.

        Raises:
            ScoreUnreadable: the mapping is not one ``to_dict`` wrote.
        """
        try:
            notes = tuple(
                ScoreNote(
                    midi=int(m),
                    onset_beats=float(on),
                    duration_beats=float(du),
                    bar=None if bar is None else int(bar),
                    beat_in_bar=None if beat is None else float(beat),
                )
                for m, on, du, bar, beat in d["notes"]
            )
            title = d.get("title")
            return _checked(
                notes,
                source=str(d["source"]),
                title=None if title is None else str(title),
                seconds_per_beat=float(d.get("seconds_per_beat", DEFAULT_SECONDS_PER_BEAT)),
                has_meter=bool(d.get("has_meter", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScoreUnreadable(f"not a stored score: {exc}") from None

    def describe(self, lang: str = "ru") -> str:
        """One line a learner recognises their tune by: name, note count, the first notes."""
        kind, _, name = self.source.partition(":")
        label = self.title or name or ""
        if kind == "songbook":
            entry = find_tune(name)
            label = entry.title(lang) if entry is not None else label
        origin = _SOURCE_WORDS.get(kind, {}).get(lang) or _SOURCE_WORDS.get(kind, {}).get("en")
        head = f"«{label}»" if lang == "ru" else f"“{label}”"
        if not label:
            head = origin or kind
        elif origin:
            head = f"{head} ({origin})"
        count = len(self.notes)
        first = " ".join(midi_to_note_name(n.midi) for n in self.notes[:8])
        more = " …" if count > 8 else ""
        if lang == "ru":
            return f"{head}: {count} {_ru_plural(count, 'нота', 'ноты', 'нот')}: {first}{more}"
        return f"{head}: {count} note{'s' if count != 1 else ''}: {first}{more}"


_SOURCE_WORDS: dict[str, dict[str, str]] = {
    "midi": {"ru": "файл MIDI", "en": "MIDI file"},
    "musicxml": {"ru": "файл MusicXML", "en": "MusicXML file"},
    "songbook": {"ru": "из сборника", "en": "songbook"},
    "inline": {"ru": "ноты по названиям", "en": "typed notes"},
}


def _ru_plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _checked(
    notes: Sequence[ScoreNote],
    *,
    source: str,
    title: str | None = None,
    seconds_per_beat: float = DEFAULT_SECONDS_PER_BEAT,
    has_meter: bool = False,
) -> Score:
    """Build a Score, refusing an empty or huge one and any note a player could not read."""
    if not notes:
        raise ScoreEmpty(f"{source}: no notes")
    if len(notes) > MAX_SCORE_NOTES:
        raise ScoreTooLarge(
            f"{source}: {len(notes)} notes", notes=len(notes), max_notes=MAX_SCORE_NOTES
        )
    previous_end = -math.inf
    for note in notes:
        if not 0 <= note.midi <= 127:
            raise ScoreUnreadable(f"{source}: pitch {note.midi} outside MIDI's 0..127")
        if not (note.duration_beats > 0 and math.isfinite(note.duration_beats)):
            raise ScoreUnreadable(f"{source}: a note of length {note.duration_beats}")
        if not math.isfinite(note.onset_beats) or note.onset_beats < previous_end - 1e-6:
            raise ScoreUnreadable(f"{source}: notes overlap or go back in time")
        previous_end = note.onset_beats + note.duration_beats
    if not (seconds_per_beat > 0 and math.isfinite(seconds_per_beat)):
        raise ScoreUnreadable(f"{source}: tempo {seconds_per_beat} s a beat")
    return Score(tuple(notes), source, title, seconds_per_beat, has_meter)


def seconds_per_beat_from_bpm(bpm: float | None) -> float:
    """A quarter-note tempo mark in seconds a beat; the default when absent or absurd."""
    if bpm is None or not _TEMPO_BPM_RANGE[0] <= bpm <= _TEMPO_BPM_RANGE[1]:
        return DEFAULT_SECONDS_PER_BEAT
    return 60.0 / bpm


# --- bars and beats ------------------------------------------------------------------------


@dataclass(frozen=True)
class Meter:
    """A time signature in force from ``at_beats`` (quarter beats from the start) on."""

    at_beats: float
    numerator: int
    denominator: int

    @property
    def bar_beats(self) -> float:
        return self.numerator * 4.0 / self.denominator

    @property
    def beat_unit(self) -> float:
        """The beat a teacher counts, in quarters: a dotted quarter in 6/8, 9/8, 12/8."""
        unit = 4.0 / self.denominator
        if self.denominator >= 8 and self.numerator % 3 == 0 and self.numerator > 3:
            unit *= 3
        return unit


def parse_meter(text: str) -> Meter:
    """``"3/4"`` -> Meter(0, 3, 4). Raises ValueError on anything else."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{1,2})\s*", text)
    if not match:
        raise ValueError(f"not a time signature: {text!r}")
    num, den = int(match[1]), int(match[2])
    if num < 1 or den not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"not a time signature: {text!r}")
    return Meter(0.0, num, den)


def bars_and_beats(
    onsets: Sequence[float], meters: Sequence[Meter], *, pickup_beats: float = 0.0
) -> list[tuple[int, float]]:
    """Bar number and beat in bar for each onset (quarter beats from the start).

    A pickup (anacrusis) of ``pickup_beats`` is bar 0 and counts its beats from the end of a
    full bar, as printed music does: a one-beat pickup in 4/4 is on beat 4. Meter changes
    start a new bar where they fall.
    """
    if not meters:
        raise ValueError("no time signature")
    ordered = sorted(meters, key=lambda m: m.at_beats)
    out: list[tuple[int, float]] = []
    for onset in onsets:
        if onset < pickup_beats - 1e-9:
            first = ordered[0]
            out.append((0, 1.0 + (first.bar_beats - pickup_beats + onset) / first.beat_unit))
            continue
        bars_before = 0
        for i, meter in enumerate(ordered):
            start = pickup_beats if i == 0 else max(meter.at_beats, pickup_beats)
            end = ordered[i + 1].at_beats if i + 1 < len(ordered) else math.inf
            if end <= start:
                continue  # a change within the pickup, or two at one place
            if onset < end - 1e-9:
                whole = math.floor((onset - start) / meter.bar_beats + 1e-9)
                within = max(0.0, onset - start - whole * meter.bar_beats)
                out.append((bars_before + 1 + whole, 1.0 + within / meter.beat_unit))
                break
            # Every bar of this stretch, the last one counting even when the change cuts it.
            bars_before += math.ceil((end - start) / meter.bar_beats - 1e-9)
    return out


# --- the melody of a polyphonic track --------------------------------------------------------

CHORD_SPREAD_BEATS = 1 / 16  # onsets this close are one chord (a performed MIDI's spread)
HELD_SHARE = 0.25  # a higher note still sounding for this share of its length hides a new one
HELD_MIN_BEATS = 1 / 8


@dataclass(frozen=True)
class RawNote:
    """A note as a file holds it, before the melody is chosen (beats, any polyphony)."""

    onset_beats: float
    duration_beats: float
    midi: int


def top_line(notes: Iterable[RawNote]) -> list[RawNote]:
    """The melody of a voice with chords: the highest note of each onset, monophonic.

    A note that starts while a higher one is still clearly held (an inner voice under a long
    melody note) is not melody. A note still sounding when the next melody note starts is cut
    there, so the line never overlaps.
    """
    ordered = sorted((n for n in notes if n.duration_beats > 0), key=lambda n: n.onset_beats)
    line: list[RawNote] = []
    i = 0
    while i < len(ordered):
        group_start = ordered[i].onset_beats
        j = i
        while j < len(ordered) and ordered[j].onset_beats < group_start + CHORD_SPREAD_BEATS:
            j += 1
        top = max(ordered[i:j], key=lambda n: (n.midi, n.duration_beats))
        i = j
        if line:
            last = line[-1]
            remaining = last.onset_beats + last.duration_beats - top.onset_beats
            held = remaining > max(HELD_MIN_BEATS, HELD_SHARE * last.duration_beats)
            if held and last.midi > top.midi:
                continue
            if remaining > 0:
                cut = top.onset_beats - last.onset_beats
                if cut <= 0:
                    line.pop()
                else:
                    line[-1] = RawNote(last.onset_beats, cut, last.midi)
        line.append(top)
    return line


def score_from_raw(
    raw: Sequence[RawNote],
    *,
    source: str,
    title: str | None,
    seconds_per_beat: float,
    meters: Sequence[Meter] = (),
    pickup_beats: float = 0.0,
    bars: Sequence[tuple[int, float]] | None = None,
) -> Score:
    """A monophonic line of raw notes as a Score, with bars when a meter is known."""
    if len(raw) > MAX_SCORE_NOTES:
        raise ScoreTooLarge(
            f"{source}: {len(raw)} notes", notes=len(raw), max_notes=MAX_SCORE_NOTES
        )
    if bars is None and meters:
        bars = bars_and_beats([n.onset_beats for n in raw], meters, pickup_beats=pickup_beats)
    notes = tuple(
        ScoreNote(
            midi=n.midi,
            onset_beats=round(n.onset_beats, 6),
            duration_beats=round(n.duration_beats, 6),
            bar=None if bars is None else bars[k][0],
            beat_in_bar=None if bars is None else round(bars[k][1], 4),
        )
        for k, n in enumerate(raw)
    )
    return _checked(
        notes,
        source=source,
        title=title,
        seconds_per_beat=seconds_per_beat,
        has_meter=bars is not None,
    )


# --- note names typed by hand -----------------------------------------------------------------

_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11, "h": 11}
_SOLFEGE = {
    # Russian (how a child in Russia names notes) and Latin solfège
    "до": 0,
    "ре": 2,
    "ми": 4,
    "фа": 5,
    "соль": 7,
    "ля": 9,
    "си": 11,
    "do": 0,
    "re": 2,
    "mi": 4,
    "fa": 5,
    "sol": 7,
    "so": 7,
    "la": 9,
    "si": 11,
    "ti": 11,
}
_ACCIDENTALS = {
    "": 0,
    "#": 1,
    "♯": 1,
    "##": 2,
    "b": -1,
    "♭": -1,
    "bb": -2,
    "диез": 1,
    "-диез": 1,
    "бемоль": -1,
    "-бемоль": -1,
    "дубль-диез": 2,
    "-дубль-диез": 2,
    "дубль-бемоль": -2,
    "-дубль-бемоль": -2,
}
_REST_WORDS = frozenset({"r", "rest", "п", "пауза", "z"})
_SEPARATORS = re.compile(r"[\s;]+|,(?!\d)")
_DURATION = r"(?:/(?P<dur>\d+(?:[.,]\d+)?))?"
_LATIN_TOKEN = re.compile(
    r"(?P<name>[a-h])(?P<acc>##|bb|#|b|♯|♭)?(?P<oct>\d)?" + _DURATION, re.IGNORECASE
)
_SOLFEGE_TOKEN = re.compile(
    r"(?P<name>соль|до|ре|ми|фа|ля|си|sol|so|do|re|mi|fa|la|si|ti)"
    r"(?P<acc>-?дубль-диез|-?дубль-бемоль|-?диез|-?бемоль|##|bb|#|b|♯|♭)?"
    r"(?P<oct>\d)?" + _DURATION,
    re.IGNORECASE,
)
_REST_TOKEN = re.compile(r"(?P<name>rest|пауза|r|п|z)" + _DURATION, re.IGNORECASE)
_ACCIDENTAL_WORD = re.compile(r"(дубль-диез|дубль-бемоль|диез|бемоль)", re.IGNORECASE)
MAX_INLINE_CHARS = 20_000


@dataclass
class _Token:
    pitch_class: int | None  # None: a rest
    octave: int | None
    beats: float
    bar: int


def _beats(text: str | None, token: str) -> float:
    if text is None:
        return 1.0
    value = float(text.replace(",", "."))
    if not 0 < value <= 64:
        raise ScoreUnknown(f"a note of {value} beats: {token!r}", token=token)
    return value


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    bar = 1
    for chunk in _SEPARATORS.split(text.replace("ё", "е").replace("Ё", "Е")):
        if not chunk:
            continue
        # "|" marks a bar line; it may touch a note ("E4|D4") or stand alone.
        pieces = re.split(r"(\|)", chunk)
        for piece in pieces:
            if not piece:
                continue
            if piece == "|":
                if tokens:
                    bar += 1
                continue
            word = _ACCIDENTAL_WORD.fullmatch(piece)
            if word:  # "до диез": the word modifies the note before it
                if not tokens or tokens[-1].pitch_class is None:
                    raise ScoreUnknown(f"{piece!r} after no note", token=piece)
                shift = _ACCIDENTALS[word[1].lower()]
                last = tokens[-1]
                last.pitch_class += shift  # type: ignore[operator]
                continue
            rest = _REST_TOKEN.fullmatch(piece)
            if rest:
                tokens.append(_Token(None, None, _beats(rest["dur"], piece), bar))
                continue
            match = _SOLFEGE_TOKEN.fullmatch(piece) or _LATIN_TOKEN.fullmatch(piece)
            if match is None:
                raise ScoreUnknown(f"not a note name: {piece!r}", token=piece)
            name = match["name"].lower()
            base = _SOLFEGE[name] if name in _SOLFEGE else _LETTERS[name]
            acc = (match["acc"] or "").lower()
            octave = None if match["oct"] is None else int(match["oct"])
            tokens.append(
                _Token(base + _ACCIDENTALS[acc], octave, _beats(match["dur"], piece), bar)
            )
    return tokens


def parse_note_names(text: str) -> Score:
    """Notes typed by hand, in any of the ways a learner writes them.

    * Letters: ``"E4 D4 C4"``, ``"F#4 Bb3"`` (``#``/``♯``, ``b``/``♭``, doubled for double
      sharps/flats; ``H`` is B natural as in German and Russian books).
    * Solfège, Russian or Latin: ``"ми ре до"``, ``"do re mi"``; sharps and flats as
      ``до#``, ``сиb``, ``до-диез``, ``до диез``, ``си-бемоль``, ``си бемоль``.
    * Octave numbers are scientific (C4 = middle C, ``до4`` too). A note without one is the
      nearest to the note before it (upwards on a tritone); the first is in octave 4.
    * Lengths, optional, in quarter-note beats after a slash: ``E4/2`` (a half note),
      ``D/0.5`` or ``D/0,5`` (an eighth); 1 beat when absent.
    * Rests: ``r``, ``rest``, ``п`` or ``пауза``, with a length like notes.
    * Notes are separated by spaces or commas; ``|`` marks bar lines and, when present, gives
      every note its bar number (the first bar is bar 1).

    Raises:
        ScoreUnknown: a word that is not a note name.
        ScoreEmpty: no notes at all.
        ScoreTooLarge: more than MAX_SCORE_NOTES notes.
    """
    if len(text) > MAX_INLINE_CHARS:
        raise ScoreTooLarge(f"{len(text)} characters of note names", max_notes=MAX_SCORE_NOTES)
    tokens = _tokens(text)
    has_bars = "|" in text
    notes: list[ScoreNote] = []
    onset = 0.0
    previous: int | None = None
    bar_start: dict[int, float] = {}
    for token in tokens:
        bar_start.setdefault(token.bar, onset)
        if token.pitch_class is not None:
            if token.octave is not None:
                midi = token.pitch_class + 12 * (token.octave + 1)
            elif previous is None:
                midi = token.pitch_class + 60
            else:
                candidates = [
                    token.pitch_class + 12 * k
                    for k in range(-1, 11)
                    if 0 <= token.pitch_class + 12 * k <= 127
                ]
                reference = previous
                midi = min(candidates, key=lambda m: (abs(m - reference), -m))
            if not 0 <= midi <= 127:
                raise ScoreUnknown(f"pitch {midi} outside MIDI's 0..127", token=str(midi))
            notes.append(
                ScoreNote(
                    midi=midi,
                    onset_beats=onset,
                    duration_beats=token.beats,
                    bar=token.bar if has_bars else None,
                    beat_in_bar=1.0 + onset - bar_start[token.bar] if has_bars else None,
                )
            )
            previous = midi
        onset += token.beats
    return _checked(notes, source="inline", has_meter=has_bars)


# --- the songbook -------------------------------------------------------------------------------


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


def _find_tune_by_part(name: str) -> SongbookEntry | None:
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


# --- one entry point ------------------------------------------------------------------------------


def load_score(spec: str | Path, *, track: int | None = None) -> Score:
    """The score a user named: a file, a songbook tune, or note names (tried in that order).

    Args:
        spec: a path (a ``Path`` must be a file), or text: a songbook id/title or note names.
        track: for MIDI and MusicXML, which voice is the melody, counted from 1 over the
            tracks (MIDI: each track and channel) or parts (MusicXML: each staff) that have
            notes, in file order. None: the one with the most notes.

    Raises:
        ScoreUnreadable, ScoreHostile, ScoreTooLarge, ScoreEmpty: a file that cannot be used.
        ScoreUnknown: text that is neither a file, nor a songbook tune, nor note names.
        ValueError: ``track`` names a voice the file does not have (the message lists them),
            or is given for a score that is not a file.
    """
    if isinstance(spec, Path) or os.path.isfile(str(spec)):
        path = Path(spec)
        if not path.is_file():
            raise ScoreUnknown(f"no such file: {path}", token=str(path))
        from core.score_files import read_score_file

        return read_score_file(path, track=track)
    if track is not None:
        raise ValueError("a track number only applies to a MIDI or MusicXML file")
    return parse_tune_text(str(spec))


def parse_tune_text(text: str) -> Score:
    """A songbook tune or note names, never a file: what a chat user may type (``/tune ...``).

    Tried in order: a songbook id or title exactly, note names, then a songbook title that
    contains the text ("берёза" finds "Во поле берёза стояла") when only one does.

    Raises:
        ScoreUnknown: none of these (the message names the first word that is not a note).
        ScoreTooLarge: more than MAX_SCORE_NOTES notes.
    """
    text = text.strip()
    entry = find_tune(text)
    if entry is not None:
        return entry.load()
    try:
        return parse_note_names(text)
    except (ScoreUnknown, ScoreEmpty) as exc:
        entry = _find_tune_by_part(text)
        if entry is not None:
            return entry.load()
        if re.search(r"[/\\]|\.(mid|midi|kar|xml|musicxml|mxl)$", text, re.IGNORECASE):
            raise ScoreUnknown(f"no such file: {text}", token=text) from None
        if isinstance(exc, ScoreEmpty):
            raise ScoreUnknown("no notes named", token=text) from None
        raise


__all__ = [
    "MAX_SCORE_NOTES",
    "Meter",
    "RawNote",
    "Score",
    "ScoreNote",
    "SongbookEntry",
    "bars_and_beats",
    "find_tune",
    "load_score",
    "parse_meter",
    "parse_note_names",
    "parse_tune_text",
    "score_from_raw",
    "songbook",
    "top_line",
]
