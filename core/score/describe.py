"""One line a learner recognises their tune by: its name, how many notes, the first notes.

Apart from :mod:`core.score.model` because a songbook tune is named in the reader's language
from the songbook itself, and the model must not import its readers.
"""

from __future__ import annotations

from core.score.model import Score
from core.score.songbook import find_tune
from models.units import midi_to_note_name

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


def describe_score(score: Score, lang: str = "ru") -> str:
    """One line a learner recognises their tune by: name, note count, the first notes."""
    kind, _, name = score.source.partition(":")
    label = score.title or name or ""
    if kind == "songbook":
        entry = find_tune(name)
        label = entry.title(lang) if entry is not None else label
    origin = _SOURCE_WORDS.get(kind, {}).get(lang) or _SOURCE_WORDS.get(kind, {}).get("en")
    head = f"«{label}»" if lang == "ru" else f"“{label}”"
    if not label:
        head = origin or kind
    elif origin:
        head = f"{head} ({origin})"
    count = len(score.notes)
    first = " ".join(midi_to_note_name(n.midi) for n in score.notes[:8])
    more = " …" if count > 8 else ""
    if lang == "ru":
        return f"{head}: {count} {_ru_plural(count, 'нота', 'ноты', 'нот')}: {first}{more}"
    return f"{head}: {count} note{'s' if count != 1 else ''}: {first}{more}"
