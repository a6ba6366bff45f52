"""Which reader makes the learner's tune: a file, a songbook name or typed note names.

A score comes from one of four places (``load_score`` tries them in this order):

* a file, judged by its bytes, never its name: ``MThd`` -> MIDI (type 0 or 1), a zip holding
  ``META-INF/container.xml`` -> compressed MusicXML (``.mxl``), XML whose root is
  ``<score-partwise>``/``<score-timewise>`` -> MusicXML. Readers live in core/score/files.py;
* a tune of the bundled songbook (core/score/songbook.py: data/songbook/tunes.toml plus generated
  scales and arpeggios), by id or title, Russian or English;
* note names typed inline (core/score/typed.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ScoreEmpty, ScoreUnknown
from core.score.model import Score

if TYPE_CHECKING:
    from core.score.songbook import SongbookEntry


def parse_note_names(text: str) -> Score:
    """Notes typed by hand; the syntax is in :func:`core.score.typed.parse_note_names`."""
    from core.score.typed import parse_note_names as parse

    return parse(text)


def songbook() -> list[SongbookEntry]:
    """Every bundled tune (:func:`core.score.songbook.songbook`): songs, then scales and
    arpeggios."""
    from core.score.songbook import songbook as entries

    return entries()


def find_tune(name: str) -> SongbookEntry | None:
    """The songbook entry named ``name`` exactly (id or title, ru or en; case and ё ignored)."""
    from core.score.songbook import find_tune as find

    return find(name)


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
        from core.score.files import read_score_file

        return read_score_file(path, track=track)
    if track is not None:
        raise ValueError("a track number only applies to a MIDI or MusicXML file")
    return parse_tune_text(str(spec))


def _parse_typed(text: str) -> Score:
    """Note names, any ValueError of the parser being words it does not know: a chat user's
    typing must end in the message about note names, never in a crash."""
    try:
        return parse_note_names(text)
    except ValueError as exc:
        raise ScoreUnknown(f"note names that make no note ({exc})", token=text[:40]) from None


def parse_tune_text(text: str) -> Score:
    """A songbook tune or note names, never a file: what a chat user may type (``/tune ...``).

    Tried in order: a songbook id or title exactly, note names, then a songbook title that
    contains the text ("берёза" finds "Во поле берёза стояла") when only one does.

    Raises:
        ScoreUnknown: none of these (the message names the first word that is not a note).
        ScoreTooLarge: more than MAX_SCORE_NOTES notes.
    """
    from core.score.songbook import find_tune_by_part

    text = text.strip()
    entry = find_tune(text)
    if entry is not None:
        return entry.load()
    try:
        return _parse_typed(text)
    except (ScoreUnknown, ScoreEmpty) as exc:
        entry = find_tune_by_part(text)
        if entry is not None:
            return entry.load()
        if re.search(r"[/\\]|\.(mid|midi|kar|xml|musicxml|mxl)$", text, re.IGNORECASE):
            raise ScoreUnknown(f"no such file: {text}", token=text) from None
        if isinstance(exc, ScoreEmpty):
            raise ScoreUnknown("no notes named", token=text) from None
        raise
