"""A file's pitch track in one call, for tests that only need the track.

The product never needs this shortcut: ``smask pitch`` and the pipeline run probe, decode and
:func:`core.analysis.pitch.track_source` themselves, streamed and with their own progress.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from core.analysis.pitch import PitchTrack, track_source
from core.media.io import start_decode
from core.media.probe import probe
from models.network import Tracker


def track_file(
    path: Path | str, *, device: str | None = None, tracker: Tracker | None = None
) -> PitchTrack:
    """Decode any audio/video file ffmpeg reads and track it (the shipped weights unless
    ``tracker`` is given)."""
    info = probe(Path(path))
    with contextlib.closing(start_decode(Path(path), info)) as spool:
        return track_source(spool, device=device, tracker=tracker)
