"""Listening copies: a clip's sound before and after correction, small enough to keep.

A learner's page replays each take for months, so a take keeps its audio, not its video.
Both copies come from audio the job already holds, so neither decodes the clip again:

* "after" is a second output of the result's encoder: that ffmpeg run has the corrected
  samples in its pipe anyway, and encodes the copy in a thread of its own;
* "before" is encoded from the decoded spool's file (ffmpeg reads it as its stdin, so no
  thread here copies it), started the moment the shifter is done and left running. The
  encoder's AAC tail leaves a core idle then, and the reply's plot and upload follow; the
  worker waits for the copy (:meth:`ListeningCopies.finish`) only when it keeps the take,
  after the reply. Encoded during the shift, it competed with the shifter for the two
  cores and the reply waited for it; now the reply never does. What keeping still adds to a
  job (the two encodes' CPU, ~0.2 s each a minute) is in bench/web.py.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core import interrupts
from core.media.probe import ffmpeg_exe, file_url, media_timeout_s

if TYPE_CHECKING:
    from core.media.spool import PcmSpool

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


@dataclass(eq=False)
class ListeningCopies:
    """Where a correction writes its listening copies (OGG/Opus, mono, ~48 kbit/s).

    The caller owns both paths. When ``correct_file`` returns, "after" is complete and
    "before" may still be encoding: :meth:`finish` waits for it. A failed correction removes
    both; :meth:`remove` does too, and stops an encode still running (a job that ends
    without keeping its take).
    """

    before: Path
    after: Path
    _encoding: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _deadline: float = field(default=0.0, init=False, repr=False)

    def start_before(self, spool: PcmSpool) -> None:
        """Begin encoding "before" from ``spool`` (its decode has ended) and return at once.

        The spool may be closed meanwhile: ffmpeg holds its own descriptor of the file."""
        seconds = spool.length / spool.sample_rate
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                "-f", "f32le", "-sample_rate", str(spool.sample_rate),
                "-ch_layout", f"{spool.channels}c", "-i", "pipe:0",
                *listening_output_args("0:a:0", self.before)]  # fmt: skip
        self._deadline = time.monotonic() + media_timeout_s(seconds)
        # A stop arriving while ffmpeg starts waits until the handle is kept, so that the
        # failed correction's remove() finds the process to kill.
        interrupts.hold()
        try:
            self._encoding = subprocess.Popen(
                args, stdin=spool.fileno(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        finally:
            interrupts.release()

    def finish(self) -> bool:
        """Wait for "before"; True when both copies are complete. A copy whose encode failed
        or ran past its time is removed (the history then encodes the take itself)."""
        proc, self._encoding = self._encoding, None
        if proc is not None:
            try:
                failed = proc.wait(timeout=max(0.0, self._deadline - time.monotonic())) != 0
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                failed = True
            if failed:
                self.before.unlink(missing_ok=True)
        return self.before.is_file() and self.after.is_file()

    def remove(self) -> None:
        proc, self._encoding = self._encoding, None
        if proc is not None:
            proc.kill()
            proc.wait()
        for path in (self.before, self.after):
            path.unlink(missing_ok=True)


def listening_output_args(stream: str, dst: Path, audio_filter: str = "") -> list[str]:
    """ffmpeg output options writing ``stream`` (a ``-map`` specifier) as a listening copy."""
    chain = ["-af", audio_filter] if audio_filter else []
    return ["-map", stream, "-vn", "-sn", "-dn", *chain, *LISTENING_OPUS_ARGS, file_url(dst)]
