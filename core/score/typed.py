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
# Octave marks. Latin letters take scientific numbers (E4, middle C is C4) or Helmholtz
# primes (e' = E4, e'' = E5); solfège takes the Russian school's numbers (ми1 = ми первой
# октавы = E4, до2 = C5), as digits or superscripts; superscripts on letters are Russian too
# (c¹ = C4, as Russian books print them).
_SUPERSCRIPTS = {"¹": 1, "²": 2, "³": 3, "⁴": 4, "⁵": 5}
_PRIMES = "'’′"
_LATIN_TOKEN = re.compile(
    r"(?P<name>[a-h])(?P<acc>##|bb|#|b|♯|♭)?"
    rf"(?:(?P<oct>\d)|(?P<sup>[¹²³⁴⁵])|(?P<primes>[{_PRIMES}]{{1,4}}))?" + _DURATION,
    re.IGNORECASE,
)
_SOLFEGE_TOKEN = re.compile(
    r"(?P<name>соль|до|ре|ми|фа|ля|си|sol|so|do|re|mi|fa|la|si|ti)"
    r"(?P<acc>-?дубль-диез|-?дубль-бемоль|-?диез|-?бемоль|##|bb|#|b|♯|♭)?"
    r"(?:(?P<ru>[1-5])|(?P<sup>[¹²³⁴⁵]))?" + _DURATION,
    re.IGNORECASE,
)
# «ля малой», «ми первой октавы»: the word after a note names its octave (scientific number).
_OCTAVE_WORDS = {
    "субконтроктавы": 0,
    "субконтроктава": 0,
    "контроктавы": 1,
    "контроктава": 1,
    "большой": 2,
    "большая": 2,
    "бол.": 2,
    "малой": 3,
    "малая": 3,
    "мал.": 3,
    "мал": 3,
    "первой": 4,
    "первая": 4,
    "второй": 5,
    "вторая": 5,
    "третьей": 6,
    "третья": 6,
    "четвертой": 7,
    "четвертая": 7,
    "пятой": 8,
    "пятая": 8,
}
_OCTAVE_NOUNS = frozenset({"октавы", "октава", "окт.", "окт"})
RUSSIAN_FIRST_OCTAVE = 4  # «первая октава» is scientific octave 4: ми1 = E4
_REST_TOKEN = re.compile(r"(?P<name>rest|пауза|r|п|z)" + _DURATION, re.IGNORECASE)
_ACCIDENTAL_WORD = re.compile(r"(дубль-диез|дубль-бемоль|диез|бемоль)", re.IGNORECASE)
MAX_INLINE_CHARS = 20_000


@dataclass
class _Token:
    pitch_class: int | None  # None: a rest
    octave: int | None  # scientific; None: not written, to be guessed
    beats: float
    bar: int
    accidental: int = 0  # semitones the sharps and flats move it, words included
    timed: bool = False  # a length was written


def _octave_of(match: re.Match[str]) -> int | None:
    """The scientific octave a token's mark names, whichever way it was written."""
    groups = match.groupdict()
    if groups.get("oct"):
        return int(groups["oct"])
    if groups.get("ru"):
        return RUSSIAN_FIRST_OCTAVE - 1 + int(groups["ru"])
    if groups.get("sup"):
        return RUSSIAN_FIRST_OCTAVE - 1 + _SUPERSCRIPTS[groups["sup"]]
    if groups.get("primes"):
        return RUSSIAN_FIRST_OCTAVE - 1 + len(groups["primes"])
    return None


def _octave_word(piece: str, tokens: list[_Token], last_word: str | None) -> bool:
    """Apply «малой», «первой», «октавы» to the note before; False when ``piece`` is none."""
    word = piece.lower()
    if word in _OCTAVE_NOUNS:
        if last_word not in _OCTAVE_WORDS:  # «октавы» only after «первой», «малой»…
            raise ScoreUnknown(f"{piece!r} after no octave name", token=piece)
        return True
    if word not in _OCTAVE_WORDS:
        return False
    if not tokens or tokens[-1].pitch_class is None or tokens[-1].octave is not None:
        raise ScoreUnknown(f"{piece!r} after no note without an octave", token=piece)
    tokens[-1].octave = _OCTAVE_WORDS[word]
    return True


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
    last_word: str | None = None  # the piece before, for «октавы» after «первой»
    for chunk in _SEPARATORS.split(text.replace("ё", "е").replace("Ё", "Е")):
        if not chunk:
            continue
        # "|" marks a bar line; it may touch a note ("E4|D4") or stand alone.
        pieces = re.split(r"(\|)", chunk)
        for piece in pieces:
            if not piece:
                continue
            previous_word, last_word = last_word, piece.lower()
            if _octave_word(piece, tokens, previous_word):
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
                beats = _beats(rest["dur"], piece)
                tokens.append(_Token(None, None, beats, bar, timed=rest["dur"] is not None))
                continue
            match = _SOLFEGE_TOKEN.fullmatch(piece) or _LATIN_TOKEN.fullmatch(piece)
            if match is None:
                raise ScoreUnknown(f"not a note name: {piece!r}", token=piece)
            name = match["name"].lower()
            base = _SOLFEGE[name] if name in _SOLFEGE else _LETTERS[name]
            acc = (match["acc"] or "").lower()
            tokens.append(
                _Token(
                    base + _ACCIDENTALS[acc],
                    _octave_of(match),
                    _beats(match["dur"], piece),
                    bar,
                    _ACCIDENTALS[acc],
                    timed=match["dur"] is not None,
                )
            )
    return tokens


def _guess_octaves(tokens: list[_Token]) -> tuple[list[int], list[int]]:
    """MIDI numbers of the notes, and the indices of those whose octave was guessed.

    A note without an octave is the one nearest to the note before it (upwards on a
    tritone), as a singer reads a tune; notes before the first written octave are guessed
    back from it, so «соль ми ми соль1» puts the first three near G4. With no octave written
    anywhere the first note is in the first octave (C4..B4).
    """
    notes = [tk for tk in tokens if tk.pitch_class is not None]
    midi: list[int | None] = [
        None if tk.octave is None else tk.pitch_class + 12 * (tk.octave + 1)  # type: ignore[operator]
        for tk in notes
    ]
    guessed = [i for i, m in enumerate(midi) if m is None]

    def nearest(pc: int, reference: int) -> int:
        candidates = [pc + 12 * k for k in range(-1, 11) if 0 <= pc + 12 * k <= 127]
        return min(candidates, key=lambda m: (abs(m - reference), -m))

    written = [i for i, m in enumerate(midi) if m is not None]
    first = written[0] if written else None
    if first is None and notes:
        midi[0] = notes[0].pitch_class + 60  # type: ignore[operator]
        first = 0
    for i in range((first or 0) - 1, -1, -1):  # before the first written octave: backwards
        midi[i] = nearest(notes[i].pitch_class % 12, midi[i + 1])  # type: ignore[operator,arg-type]
    for i in range((first or 0) + 1, len(notes)):
        if midi[i] is None:
            midi[i] = nearest(notes[i].pitch_class % 12, midi[i - 1])  # type: ignore[operator,arg-type]
    return [int(m) for m in midi if m is not None], guessed


def parse_note_names(text: str) -> Score:
    """Notes typed by hand, in any of the ways a learner writes them.

    * Letters: ``"E4 D4 C4"``, ``"F#4 Bb3"`` (``#``/``♯``, ``b``/``♭``, doubled for double
      sharps/flats; ``H`` is B natural as in German and Russian books).
    * Solfège, Russian or Latin: ``"ми ре до"``, ``"do re mi"``; sharps and flats as
      ``до#``, ``сиb``, ``до-диез``, ``до диез``, ``си-бемоль``, ``си бемоль``.
    * Octaves. Letters: scientific numbers (``C4`` = middle C) or Helmholtz primes (``e'`` =
      E4, ``e''`` = E5). Solfège: the Russian school's numbers, ``ми1`` or ``ми¹`` = ми первой
      октавы = E4, ``до2`` = C5 (1 to 5); or words after the note: ``ля малой``, ``соль
      большой октавы``, ``ми первой октавы``, ``до контроктавы``. A note without a mark is
      guessed (see :func:`_guess_octaves`) and the Score lists it in ``guessed_octaves``.
    * Lengths, optional, in quarter-note beats after a slash: ``E4/2`` (a half note),
      ``D/0.5`` or ``D/0,5`` (an eighth); 1 beat when absent. A tune with no length written
      anywhere is untimed (``Score.timed`` False): its rhythm is not judged.
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
    if sum(tk.pitch_class is not None for tk in tokens) > MAX_SCORE_NOTES:
        raise ScoreTooLarge(f"{len(tokens)} typed notes", max_notes=MAX_SCORE_NOTES)
    has_bars = "|" in text
    pitches, guessed = _guess_octaves(tokens)
    notes: list[ScoreNote] = []
    onset = 0.0
    bar_start: dict[int, float] = {}
    for token in tokens:
        bar_start.setdefault(token.bar, onset)
        if token.pitch_class is not None:
            midi = pitches[len(notes)]
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
        onset += token.beats
    return checked_score(
        notes,
        source="inline",
        has_meter=has_bars,
        guessed_octaves=guessed,
        timed=any(tk.timed for tk in tokens),
    )
