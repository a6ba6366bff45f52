"""Listening copies: a clip's sound before and after correction, small enough to keep.

A learner's page replays each take for months, so a take keeps its audio, not its video.
Both copies come from audio the job already holds, so neither decodes the clip again:
"before" from the decoded spool's file, "after" from a second file the result's encoder
feeder writes beside the pipe (the same bytes, no extra work but a page-cache write). One
ffmpeg run encodes both, reading the files as descriptors it was handed, so no thread here
copies them. It starts when the result is in place and is left running: the reply's
picture is drawn on one core and its upload waits on the network, and the worker waits for
the copies (:meth:`ListeningCopies.finish`) only when it keeps the take, after the reply.
Encoded during the shift (the "after" copy as a second output of the result's encoder),
they competed with the shifter for both cores. What keeping still adds to a job is in
bench/web.py.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core import interrupts
from core.media.probe import ffmpeg_exe, file_url, media_timeout_s

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.media.spool import PcmSpool

__all__ = ["COPIES_NICENESS", "LISTENING_BITRATE", "ListeningCopies"]

LISTENING_BITRATE = "48k"
COPIES_NICENESS = 10
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

    The caller owns both paths. When ``correct_file`` returns, both may still be encoding:
    :meth:`finish` waits for them. A failed correction removes both; :meth:`remove` does
    too, and stops an encode still running (a job that ends without keeping its take).
    """

    before: Path
    after: Path
    failure: str = field(default="", init=False)  # why :meth:`finish` found no copies
    _after_pcm: IO[bytes] | None = field(default=None, init=False, repr=False)
    _encoding: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _deadline: float = field(default=0.0, init=False, repr=False)

    def after_feed(self, directory: Path) -> Callable[[bytes], None]:
        """The result encoder's ``tee``: writes the corrected audio, as it is encoded, to an
        unlinked file in ``directory`` that :meth:`start` hands to the copies' ffmpeg."""
        # Unbuffered: the encoder's chunks are large, and a full disk shows in write().
        self._after_pcm = tempfile.TemporaryFile(dir=directory, prefix=".smask-after-", buffering=0)  # noqa: SIM115
        return self._write_after

    def _write_after(self, data: bytes) -> None:
        # A full disk fails the copy, never the learner's result.
        if self._after_pcm is not None and not self.failure:
            try:
                if self._after_pcm.write(data) != len(data):
                    self.failure = "writing the corrected audio: a short write (disk full?)"
            except OSError as exc:
                self.failure = f"writing the corrected audio: {exc.strerror or exc}"

    def start(self, spool: PcmSpool) -> None:
        """Begin encoding "before" from ``spool`` (its decode has ended) and "after" from the
        feed (the encoder has been fed all of it), and return at once. ffmpeg holds its own
        descriptors: the spool may be closed meanwhile."""
        after_pcm, self._after_pcm = self._after_pcm, None
        if after_pcm is None:
            raise RuntimeError("after_feed() was not called")
        with after_pcm:
            if self.failure:
                return
            after_pcm.seek(0)  # ffmpeg reads on from the descriptor's offset, which it shares
            fd = after_pcm.fileno()
            raw = ["-f", "f32le", "-sample_rate", str(spool.sample_rate),
                   "-ch_layout", f"{spool.channels}c"]  # fmt: skip
            args = [*_yielding(), ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                    *raw, "-i", "pipe:0", *raw, "-i", f"pipe:{fd}",
                    *_output_args("0:a:0", self.before),
                    *_output_args("1:a:0", self.after)]  # fmt: skip
            self._deadline = time.monotonic() + media_timeout_s(spool.length / spool.sample_rate)
            # A stop arriving while ffmpeg starts waits until the handle is kept, so that
            # the failed correction's remove() finds the process to kill.
            interrupts.hold()
            try:
                self._encoding = subprocess.Popen(
                    args, stdin=spool.fileno(), pass_fds=(fd,),
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
            except OSError as exc:  # the result is fine: the history encodes the take itself
                self.failure = f"ffmpeg did not start: {exc.strerror or exc}"
            finally:
                interrupts.release()

    def finish(self) -> bool:
        """Wait for the copies; True when both are complete. Copies whose encode failed or
        ran past its time are removed (the history then encodes the take itself)."""
        proc, self._encoding = self._encoding, None
        if proc is not None:
            try:
                _, errors = proc.communicate(timeout=max(0.0, self._deadline - time.monotonic()))
                if proc.returncode != 0:
                    lines = errors.decode(errors="replace").strip().splitlines()
                    # ffmpeg's cause comes a line or two before its summary
                    self.failure = " / ".join(lines[-3:]) or f"ffmpeg exit {proc.returncode}"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                self.failure = "ran past its time"
            if self.failure:
                self.before.unlink(missing_ok=True)
                self.after.unlink(missing_ok=True)
        complete = self.before.is_file() and self.after.is_file()
        if not complete and not self.failure:
            self.failure = "no copies were written"
        return complete

    def remove(self) -> None:
        after_pcm, self._after_pcm = self._after_pcm, None
        if after_pcm is not None:
            after_pcm.close()
        proc, self._encoding = self._encoding, None
        if proc is not None:
            proc.kill()
            proc.communicate()
        for path in (self.before, self.after):
            path.unlink(missing_ok=True)


def _yielding() -> list[str]:
    """Run the copies at a lower priority (``nice``, where there is one): they share the
    cores with the reply's picture, and whatever they take from it the learner waits for.
    Measured on a 60 s 720p job (12 each): the picture took 0.70 s beside them at nice 10,
    0.72 s with no copies, 0.76-0.90 s beside them at the job's own priority. Not 19: with
    every core busy (several workers on one machine) a copy gets ~1.5% of a core at 19 and
    could run past its deadline; at 10 it gets ~10%."""
    nice = shutil.which("nice")
    return [nice, "-n", str(COPIES_NICENESS)] if nice else []


def _output_args(stream: str, dst: Path) -> list[str]:
    """ffmpeg output options writing ``stream`` (a ``-map`` specifier) as a listening copy."""
    return ["-map", stream, "-vn", "-sn", "-dn", *LISTENING_OPUS_ARGS, file_url(dst)]
