"""Decoded audio parked on disk, so a clip's length costs disk, not memory.

The pipeline reads a clip's sound several times (tracking, measuring, shifting) and always a
few seconds at a time. Holding the whole decode in memory would make every worker's peak grow
with the clip (230 MB of float32 for 600 s of 48 kHz stereo, before any working copy); an
unlinked temporary file holds it instead, written by the decoder as ffmpeg produces it and read
back by position (``os.pread``), so readers can start on the first seconds while ffmpeg is
still decoding the rest. The file has no name on disk, so nothing is left behind whatever
happens to the process.

Sources give ``[channels, samples]`` float32 for any range; :class:`ArraySource` is the same
interface over an array already in memory (tests, :func:`core.pipeline.correct_audio`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from core.errors import ProcessingError

__all__ = ["ArraySource", "AudioSource", "PcmSpool"]


class AudioSource(Protocol):
    """Random access to a clip's samples while (or after) it is decoded."""

    channels: int
    sample_rate: int

    def wait(self, n_samples: int) -> int:
        """Block until ``n_samples`` exist or the stream ended; how many exist up to there."""
        ...

    @property
    def length(self) -> int:
        """Samples in the whole clip; waits for the end of the decode."""
        ...

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """``[channels, stop - start]``, zeros outside the clip; waits for the samples."""
        ...


class ArraySource:
    """An :class:`AudioSource` over ``[channels, samples]`` float32 in memory."""

    def __init__(self, audio: npt.NDArray[np.float32], sample_rate: int) -> None:
        self.audio = audio
        self.channels = int(audio.shape[0])
        self.sample_rate = sample_rate

    def wait(self, n_samples: int) -> int:
        return min(n_samples, self.length)

    @property
    def length(self) -> int:
        return int(self.audio.shape[1])

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        return _padded(self.audio[:, max(0, start) : max(0, min(stop, self.length))], start, stop)


def _padded(inside: npt.NDArray[np.float32], start: int, stop: int) -> npt.NDArray[np.float32]:
    """``inside`` (the samples of [max(0, start), ...)) zero-padded to cover [start, stop)."""
    left = max(0, -start)
    if left == 0 and inside.shape[1] == stop - start:
        return np.array(inside, dtype=np.float32, order="C", copy=True)
    out = np.zeros((inside.shape[0], stop - start), dtype=np.float32)
    out[:, left : left + inside.shape[1]] = inside
    return out


class PcmSpool:
    """Interleaved float32 PCM in an unlinked temp file: one writer thread, many readers.

    The writer calls :meth:`append` and finally :meth:`finish` (with the exception that ended
    the decode, if any); readers block in :meth:`wait`/:meth:`read` until what they ask for has
    been written, and get the writer's exception re-raised if the decode failed.
    """

    def __init__(self, channels: int, sample_rate: int, *, directory: Path | None = None) -> None:
        self.channels = channels
        self.sample_rate = sample_rate
        self._file = tempfile.TemporaryFile(dir=directory, prefix=".smask-pcm-")  # noqa: SIM115
        self._frame_bytes = 4 * channels
        self._written = 0  # whole samples (all channels) on disk
        self._pending = b""  # a partial sample the last append ended in
        self._done = False
        self._closed = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    # writer side -------------------------------------------------------------------------

    def append(self, data: bytes | memoryview) -> None:
        """Add interleaved little-endian float32 bytes (any length; partial samples carried)."""
        chunk = self._pending + bytes(data) if self._pending else bytes(data)
        whole = len(chunk) - len(chunk) % self._frame_bytes
        self._pending = chunk[whole:]
        if whole:
            with self._changed:
                if self._closed:  # the readers gave up: stop the decode
                    raise ValueError("the spool is closed")
                offset = self._written * self._frame_bytes
                try:
                    view = memoryview(chunk)[:whole]
                    while view:  # a nearly full disk takes part of a write, then refuses
                        n = os.pwrite(self._file.fileno(), view, offset)
                        view, offset = view[n:], offset + n
                except OSError as exc:  # a full disk: say so, it is not the clip's fault
                    cause = (exc.strerror or type(exc).__name__).lower()
                    raise ProcessingError(
                        f"{cause}: the decoded audio could not be spooled", storage=cause
                    ) from exc
                self._written += whole // self._frame_bytes
                self._changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        with self._changed:
            self._done = True
            self._error = error
            self._changed.notify_all()

    # reader side -------------------------------------------------------------------------

    def wait(self, n_samples: int) -> int:
        with self._changed:
            while self._written < n_samples and not self._done:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            return min(n_samples, self._written)

    @property
    def length(self) -> int:
        with self._changed:
            while not self._done:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            return self._written

    @property
    def done(self) -> bool:
        return self._done

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        available = self.wait(stop)
        lo, hi = max(0, start), max(0, min(stop, available))
        raw = os.pread(self._file.fileno(), (hi - lo) * self._frame_bytes, lo * self._frame_bytes)
        inside = np.frombuffer(raw, dtype="<f4").reshape(-1, self.channels).T
        return _padded(inside, start, stop)

    def fileno(self) -> int:
        """The spool's file: interleaved ``<f4`` from byte 0, whole samples only. This class
        reads and writes it at explicit offsets, so the file's own offset stays 0 and a child
        process given it as stdin reads the clip from the start."""
        return self._file.fileno()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._file.close()

    def __enter__(self) -> PcmSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
