"""What the planner needs from a clip's samples, read from a source a few seconds at a time.

The loudest window (is there sound at all), the loudness envelope, the tracker's pitch and the
fundamental refined per frame: all per-frame arrays (100 numbers a second), so a 600 s clip's
analysis is a few megabytes whatever its sample rate. The order is chosen for a cold start:
the loudness pass needs no torch and follows the decoder while the model is still loading
(``tracker`` may be a callable that waits for it), and a silent clip is refused before the
tracker runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.audio import check_level, to_mono
from core.measures import Envelope, FrameF0, LoudestWindow

if TYPE_CHECKING:
    from core.pitch import PitchTrack
    from core.spool import AudioSource
    from models.network import Tracker

BLOCK_S = 4.0  # s of audio per block of the measuring passes
HOP_S = 0.01  # s: the tracker's frame hop (core.pitch.HOP_S, without importing torch)


@dataclass(frozen=True)
class Analysis:
    """Per-frame facts about a clip (frame i at ``i * track.hop_s``)."""

    track: PitchTrack
    envelope_db: npt.NDArray[np.float64]
    f0_measured_hz: npt.NDArray[np.float64]  # refined from the track, NaN where unmeasurable
    loudest_dbfs: float


def _blocks(source: AudioSource) -> range:
    step = max(1, round(BLOCK_S * source.sample_rate))
    return range(0, source.length, step)


def analyse(
    source: AudioSource,
    *,
    tracker: Tracker | Callable[[], Tracker | None] | None = None,
    device: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Analysis:
    """Loudness and envelope, then the pitch track, then the refined pitch.

    Raises:
        Silent: no window of the clip is loud enough to analyse (before any tracking).
    """

    sample_rate = source.sample_rate
    step = max(1, round(BLOCK_S * sample_rate))
    loudest, envelope = LoudestWindow(sample_rate), Envelope(sample_rate, HOP_S)
    start = 0
    while True:
        # Follow the decoder: each block as soon as it exists, until the clip ends.
        got = source.wait(start + step) - start
        if got <= 0:
            break
        mono = to_mono(source.read(start, start + got))
        loudest.push(mono)
        envelope.push(mono)
        start += got
        if got < step:
            break
    if progress is not None:
        progress("decoding", 1.0)
    check_level(loudest.dbfs())
    if progress is not None:
        progress("analysing", 0.0)

    from core.pitch import track_source

    chosen = tracker() if callable(tracker) and not hasattr(tracker, "cqt_params") else tracker
    track = track_source(source, device=device, tracker=chosen)  # type: ignore[arg-type]
    if progress is not None:
        progress("analysing", 0.5)
    n = source.length
    refined = FrameF0(track.f0_hz, sample_rate, track.hop_s, n)
    for first in range(0, n, step):
        refined.push(to_mono(source.read(first, min(n, first + step))))
    return Analysis(track, envelope.db(len(track)), refined.result(), loudest.dbfs())
