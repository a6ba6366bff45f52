"""The tune a learner meant to play: its melody as written, whoever read it.

A :class:`Score` is monophonic (where the chosen track or part has chords, its top line) and
carries everything the aligner needs: notes in beats, bars, the tempo. The readers that make
one (:mod:`core.score.files`, :mod:`core.score.typed`, :mod:`core.score.songbook`) import this
module and never the other way round, and :mod:`core.score.load` picks among them; so nothing
here imports MIDI or XML libraries, and ``smask correct`` without ``--score`` pays nothing for
them.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from core.errors import ScoreEmpty, ScoreTooLarge, ScoreUnreadable

MAX_SCORE_NOTES = 5000
MAX_LABEL_CHARS = 100  # a score's source and title, as shown and stored
DEFAULT_SECONDS_PER_BEAT = 0.5  # 120 quarter notes a minute when the score names no tempo
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
    # Typed note names: which notes' octaves were guessed (0-based indices, so the learner is
    # told where to check), and whether any length was written. An untimed tune's notes are
    # one beat each only as a placeholder, so no tempo or rhythm is judged against it.
    guessed_octaves: tuple[int, ...] = ()
    timed: bool = True

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
            "guessed_octaves": list(self.guessed_octaves),
            "timed": self.timed,
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
            source = str(d["source"])
            return checked_score(
                notes,
                source=source,
                title=None if title is None else str(title),
                seconds_per_beat=float(d.get("seconds_per_beat", DEFAULT_SECONDS_PER_BEAT)),
                has_meter=bool(d.get("has_meter", False)),
                guessed_octaves=tuple(int(i) for i in d.get("guessed_octaves", ())),
                # Tunes stored before the flag: typed names never had lengths then.
                timed=bool(d.get("timed", source != "inline")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScoreUnreadable(f"not a stored score: {exc}") from None


def checked_score(
    notes: Sequence[ScoreNote],
    *,
    source: str,
    title: str | None = None,
    seconds_per_beat: float = DEFAULT_SECONDS_PER_BEAT,
    has_meter: bool = False,
    guessed_octaves: Sequence[int] = (),
    timed: bool = True,
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
    guessed = tuple(sorted(set(guessed_octaves)))
    if guessed and not 0 <= guessed[0] <= guessed[-1] < len(notes):
        raise ScoreUnreadable(f"{source}: a guessed octave for a note it does not have")
    # A file's own names (track, work title, file name) are labels, not content: a 900 KB
    # track name must not become a chat reply VK refuses or a tune stored with every job.
    return Score(
        tuple(notes),
        _label(source),
        _label(title),
        seconds_per_beat,
        has_meter,
        guessed,
        timed,
    )


@overload
def _label(text: str) -> str: ...
@overload
def _label(text: None) -> None: ...
def _label(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_LABEL_CHARS:
        return text
    return text[: MAX_LABEL_CHARS - 1] + "…"


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
    # Each stretch between meter changes once: (end, bars before it, start, meter). A note
    # then finds its stretch by bisection, so a file of a hundred thousand time signatures
    # costs log(m) a note, not m (it took minutes).
    ends: list[float] = []
    stretches: list[tuple[int, float, Meter]] = []
    bars_before = 0
    for i, meter in enumerate(ordered):
        start = pickup_beats if i == 0 else max(meter.at_beats, pickup_beats)
        end = ordered[i + 1].at_beats if i + 1 < len(ordered) else math.inf
        if end <= start:
            continue  # a change within the pickup, or two at one place
        ends.append(end - 1e-9)
        stretches.append((bars_before, start, meter))
        # Every bar of this stretch, the last one counting even when the change cuts it.
        if math.isfinite(end):
            bars_before += math.ceil((end - start) / meter.bar_beats - 1e-9)
    out: list[tuple[int, float]] = []
    for onset in onsets:
        if onset < pickup_beats - 1e-9:
            first = ordered[0]
            out.append((0, 1.0 + (first.bar_beats - pickup_beats + onset) / first.beat_unit))
            continue
        k = bisect.bisect_right(ends, onset)
        if k == len(stretches):
            continue  # past an infinite end: cannot happen, as before
        before, start, meter = stretches[k]
        whole = math.floor((onset - start) / meter.bar_beats + 1e-9)
        within = max(0.0, onset - start - whole * meter.bar_beats)
        out.append((before + 1 + whole, 1.0 + within / meter.beat_unit))
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
    return checked_score(
        notes,
        source=source,
        title=title,
        seconds_per_beat=seconds_per_beat,
        has_meter=bars is not None,
    )
