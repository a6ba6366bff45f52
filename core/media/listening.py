"""Listening copies: a clip's sound before and after correction, small enough to keep.

A learner's page replays each take for months, so a take keeps its audio, not its video. The
copies are written as extra outputs of the two ffmpeg runs a correction already makes (the
decode writes "before", the result's encoder writes "after"): the samples are decoded and
resampled there anyway, so a copy costs only its Opus encode, in an encoder thread of its
own, and no process start, demux or decode of its own (bench/web.py: a separate ffmpeg run
after the job added ~20% to a 60 s job; side outputs add the figure bench.web reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.media.probe import file_url

__all__ = ["LISTENING_BITRATE", "ListeningCopies", "listening_output_args"]

LISTENING_BITRATE = "48k"
# Mono Opus in OGG. Constrained VBR holds the 48 kbit/s the history's size cap is planned on
# (plain VBR spent ~61 kbit/s on a sung take). Compression level 0 encodes in about half the
# CPU time of level 5 at the same size; at 48 kbit/s mono a learner replaying one note hears
# no difference, and this encode runs inside every job. 120 ms packets (six 20 ms CELT
# frames each) cut ffmpeg's per-packet work: 0.17 -> 0.14 s of CPU a 60 s side, same size.
LISTENING_OPUS_ARGS = ("-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", LISTENING_BITRATE,
                       "-vbr", "constrained", "-application", "audio", "-compression_level", "0",
                       "-frame_duration", "120", "-f", "ogg")  # fmt: skip


@dataclass(frozen=True)
class ListeningCopies:
    """Where a correction writes its listening copies (OGG/Opus, mono, ~48 kbit/s).

    The caller owns both paths: they exist, complete, once ``correct_file`` returns, and are
    removed by it when the correction fails.
    """

    before: Path
    after: Path

    def remove(self) -> None:
        for path in (self.before, self.after):
            path.unlink(missing_ok=True)


def listening_output_args(stream: str, dst: Path, audio_filter: str = "") -> list[str]:
    """ffmpeg output options writing ``stream`` (a ``-map`` specifier) as a listening copy."""
    chain = ["-af", audio_filter] if audio_filter else []
    return ["-map", stream, "-vn", "-sn", "-dn", *chain, *LISTENING_OPUS_ARGS, file_url(dst)]
