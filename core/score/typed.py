"""Notes typed by hand: letters, Russian or Latin solfège, lengths, rests and bar lines.

What a learner types after ``--score`` or ``/tune`` when they have no file: ``E4 D4 C4``,
``E D C`` or ``ми ре до``. The full syntax is in :func:`parse_note_names`; the songbook
(data/songbook/tunes.toml) is written in it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ScoreTooLarge, ScoreUnknown
from core.score.model import MAX_SCORE_NOTES, Score, ScoreNote, checked_score

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
    accidental: int = 0  # semitones the sharps and flats move it, words included


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
                last.accidental += shift
                if abs(last.accidental) > 2:
                    # "до диез диез диез…": past a double sharp, no note has that name
                    raise ScoreUnknown(f"{piece!r} once too often", token=piece)
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
                _Token(
                    base + _ACCIDENTALS[acc],
                    octave,
                    _beats(match["dur"], piece),
                    bar,
                    _ACCIDENTALS[acc],
                )
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
    return checked_score(notes, source="inline", has_meter=has_bars)
