"""What the planner needs from a clip's samples, read from a source a few seconds at a time.

The loudest window (is there sound at all), the loudness envelope, the tracker's pitch and the
fundamental refined per frame: all per-frame arrays (100 numbers a second), so a 600 s clip's
analysis is a few megabytes whatever its sample rate. The loudness pass needs no torch: it follows
the decoder while the model is still loading (``tracker`` may be a callable that waits for
it), or beside the tracker once the model is loaded (the bot's worker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from core.analysis.measures import Envelope, FrameF0, LoudestWindow
from core.media.audio import check_level, to_mono

if TYPE_CHECKING:
    from core.analysis.pitch import PitchTrack
    from core.media.spool import AudioSource
    from models.network import Tracker

BLOCK_S = 4.0  # s of audio per block of the measuring passes
HOP_S = 0.01  # s: the tracker's frame hop (core.analysis.pitch.HOP_S, without importing torch)


@dataclass(frozen=True)
class Analysis:
    """Per-frame facts about a clip (frame i at ``i * track.hop_s``)."""

    track: PitchTrack
    envelope_db: npt.NDArray[np.float64]
    f0_measured_hz: npt.NDArray[np.float64]  # refined from the track, NaN where unmeasurable
    loudest_dbfs: float


def analyse(
    source: AudioSource,
    *,
    tracker: Tracker | Callable[[], Tracker | None] | None = None,
    device: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Analysis:
    """Loudness and envelope beside the pitch track, then the refined pitch.

    The loudness pass runs in a thread of its own, following the decoder. With a loaded
    ``tracker`` the tracker starts at once too, on the first chunk decoded, so decoding,
    measuring and tracking overlap. With a ``tracker`` still loading (a callable) the loudness
    pass finishes first, under the load, so a silent clip is refused without waiting for it.

    Raises:
        Silent: no window of the clip is loud enough to analyse.
    """
    sample_rate = source.sample_rate
    step = max(1, round(BLOCK_S * sample_rate))
    loudest, envelope = LoudestWindow(sample_rate), Envelope(sample_rate, HOP_S)
    failed: list[BaseException] = []

    def measure() -> None:
        try:
            start = 0
            while True:
                got = source.wait(start + step) - start  # each block as soon as it exists
                if got <= 0:
                    break
                mono = to_mono(source.read(start, start + got))
                loudest.push(mono)
                envelope.push(mono)
                start += got
                if got < step:
                    break
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    def measured() -> None:
        thread.join()
        if failed:
            raise failed[0]
        check_level(loudest.dbfs())

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    from core.analysis.pitch import track_source

    thread = threading.Thread(target=measure, name="smask-loudness", daemon=True)
    thread.start()
    try:
        # A Tracker is callable too (a torch module): a loader is what has no cqt_params.
        loader = None if tracker is None or hasattr(tracker, "cqt_params") else tracker
        if loader is not None:
            measured()
        report("decoding", 1.0)
        report("analysing", 0.0)
        chosen = cast("Tracker | None", loader() if loader is not None else tracker)
        track = track_source(source, device=device, tracker=chosen)
        measured()
    finally:
        thread.join()  # never leave a reader on a spool the caller is about to close
    report("analysing", 0.5)
    n = source.length
    refined = FrameF0(track.f0_hz, sample_rate, track.hop_s, n)
    for first in range(0, n, step):
        refined.push(to_mono(source.read(first, min(n, first + step))))
    return Analysis(track, envelope.db(len(track)), refined.result(), loudest.dbfs())
