"""One line a learner recognises their tune by: its name, how many notes, the first notes.

Apart from :mod:`core.score.model` because a songbook tune is named in the reader's language
from the songbook itself, and the model must not import its readers.
"""

from __future__ import annotations

from core.notation import note_name
from core.notation import ru_plural as _ru_plural
from core.score.model import Score
from core.score.songbook import find_tune

# Score.source is "<kind>:<name>" for our own bookkeeping; the learner reads these words.
_SOURCE_WORDS: dict[str, dict[str, str]] = {
    "midi": {"ru": "файл MIDI", "en": "MIDI file"},
    "musicxml": {"ru": "файл MusicXML", "en": "MusicXML file"},
    "songbook": {"ru": "из сборника", "en": "songbook"},
    "inline": {"ru": "мелодия, набранная нотами", "en": "the tune you typed"},
}


def tune_title(source: str, title: str | None, lang: str) -> str | None:
    """The tune's own name as the learner knows it, or None when it has none (typed notes).

    A songbook tune is named in the reader's language from the songbook (its Score carries
    the English title); a file by its title, else its file name. Never the internal
    ``source`` ("inline", "midi:elochka.mid"), which only scripts read, in report.json.
    """
    kind, _, name = source.partition(":")
    if kind == "songbook":
        entry = find_tune(name)
        if entry is not None:
            return entry.title(lang)
    if kind == "inline":
        return title or None
    return title or name or None


def tune_phrase(source: str, title: str | None, lang: str) -> str:
    """The tune in a few words for a heading: «Во поле берёза стояла», or what it is when it
    has no name («мелодия, набранная нотами», «файл MIDI»)."""
    label = tune_title(source, title, lang)
    if label:
        return f"«{label}»" if lang == "ru" else f"“{label}”"
    kind = source.partition(":")[0]
    words = _SOURCE_WORDS.get(kind, {})
    return words.get(lang) or words.get("en") or ("мелодия" if lang == "ru" else "the tune")


def describe_score(score: Score, lang: str = "ru") -> str:
    """One line a learner recognises their tune by: name, note count, the first notes."""
    first = " ".join(note_name(n.midi, lang) for n in score.notes[:8])
    more = " …" if len(score.notes) > 8 else ""
    return f"{tune_heading(score, lang)}: {first}{more}"


def tune_heading(score: Score, lang: str = "ru") -> str:
    """The tune's name (and where it came from) and how many notes it has."""
    kind = score.source.partition(":")[0]
    head = tune_phrase(score.source, score.title, lang)
    origin = _SOURCE_WORDS.get(kind, {}).get(lang) or _SOURCE_WORDS.get(kind, {}).get("en")
    if tune_title(score.source, score.title, lang) and origin:
        head = f"{head} ({origin})"
    count = len(score.notes)
    if lang == "ru":
        return f"{head}: {count} {_ru_plural(count, 'нота', 'ноты', 'нот')}"
    return f"{head}: {count} note{'s' if count != 1 else ''}"


LISTING_LINE_NOTES = 8  # notes a line in the full listing: a phone's width of «соль¹»s


def _ranges(indices: tuple[int, ...]) -> str:
    """0-based indices as the learner counts notes: (0, 1, 2, 5) -> "1–3, 6"."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(f"{r[0] + 1}–{r[-1] + 1}" if len(r) > 1 else f"{r[0] + 1}" for r in runs)


def guessed_octaves_line(score: Score, lang: str = "ru") -> str | None:
    """Where the octave was guessed and how to write it, or None when every octave was written.

    The learner checks the tune by these notes; an octave they did not write is ours, so the
    reply says so and shows the mark that fixes it.
    """
    guessed = score.guessed_octaves
    if not guessed:
        return None
    every = len(guessed) == len(score.notes)
    if lang == "ru":
        where = "у всех нот" if every else f"у нот {_ranges(guessed)}"
        return (
            f"Октаву я угадал {where}. Если она другая, напишите её после ноты: ми1 или ми¹ — "
            "ми первой октавы, до2 — до второй, «ля малой», «соль большой»."
        )
    where = "of every note" if every else f"of notes {_ranges(guessed)}"
    return (
        f"I guessed the octave {where}. If it is another, write it after the note: E4 or e' "
        "(middle C is C4), C5 or c''."
    )


def tune_listing(score: Score, lang: str = "ru") -> list[str]:
    """The whole tune with octaves, numbered as the report numbers notes, a line per
    ``LISTING_LINE_NOTES``: what the learner checks against what they meant to type."""
    lines = []
    for start in range(0, len(score.notes), LISTING_LINE_NOTES):
        chunk = score.notes[start : start + LISTING_LINE_NOTES]
        end = start + len(chunk)
        numbers = f"{start + 1}–{end}" if end > start + 1 else f"{start + 1}"
        lines.append(f"{numbers}: " + " ".join(note_name(n.midi, lang) for n in chunk))
    return lines


def describe_score_in_full(score: Score, lang: str = "ru") -> list[str]:
    """The tune as a confirmation lists it: the name and count, every note, and where the
    octaves were guessed. A list of lines, so a caller can split a long tune across messages."""
    lines = [tune_heading(score, lang) + ":", *tune_listing(score, lang)]
    guessed = guessed_octaves_line(score, lang)
    if guessed:
        lines.append(guessed)
    return lines
