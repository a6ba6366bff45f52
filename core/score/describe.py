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
    kind = score.source.partition(":")[0]
    head = tune_phrase(score.source, score.title, lang)
    origin = _SOURCE_WORDS.get(kind, {}).get(lang) or _SOURCE_WORDS.get(kind, {}).get("en")
    if tune_title(score.source, score.title, lang) and origin:
        head = f"{head} ({origin})"
    count = len(score.notes)
    first = " ".join(note_name(n.midi, lang) for n in score.notes[:8])
    more = " …" if count > 8 else ""
    if lang == "ru":
        return f"{head}: {count} {_ru_plural(count, 'нота', 'ноты', 'нот')}: {first}{more}"
    return f"{head}: {count} note{'s' if count != 1 else ''}: {first}{more}"
