"""Per-frame measures of a clip fed a block at a time: the pipeline's analysis without the clip.

Planning needs three things from the samples besides the tracker's pitch: the loudest 50 ms
window (is there any sound at all), the loudness envelope per frame (re-tongued notes) and
the fundamental refined per frame (what can be moved); the report needs the last one again on
the output. Each is local in time, so each is computed here from consecutive mono blocks,
holding only the few thousand samples of context a frame reads. The numbers are bit for bit
those of the whole-clip functions (:func:`core.media.audio.peak_window_dbfs`,
:func:`core.plan.segment.frame_envelope_db`, :func:`core.analysis.phase.frame_f0_hz`): the same
windows, the same float64 running sum carried across blocks, the same per-frame arithmetic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.media.audio import LOUDNESS_WINDOW_S, rms_dbfs

_DBFS_FLOOR = -200.0


class LoudestWindow:
    """:func:`core.media.audio.peak_window_dbfs` of the blocks pushed so far."""

    def __init__(self, sample_rate: int, window_s: float = LOUDNESS_WINDOW_S) -> None:
        self.window = max(1, round(window_s * sample_rate))
        self.best = -np.inf
        self.rest = np.zeros(0, dtype=np.float64)
        self.seen = 0

    def push(self, mono: npt.NDArray[np.float32]) -> None:
        x = np.concatenate([self.rest, mono.astype(np.float64)])
        self.seen += len(mono)
        whole = len(x) // self.window * self.window
        if whole:
            frames = x[:whole].reshape(-1, self.window)
            self.best = max(self.best, float(np.mean(np.square(frames), axis=1).max()))
        self.rest = x[whole:]

    def dbfs(self) -> float:
        if self.seen <= self.window:
            return rms_dbfs(self.rest)
        best = self.best
        if self.rest.size:
            best = max(best, float(np.mean(np.square(self.rest))))
        return 10.0 * np.log10(best) if best > 0 else _DBFS_FLOOR


class Envelope:
    """:func:`core.plan.segment.frame_envelope_db`: the running sum of squares, kept at every
    hop."""

    def __init__(self, sample_rate: int, hop_s: float) -> None:
        self.hop = max(1, round(hop_s * sample_rate))
        self.total = 0.0  # sum of squares of every sample so far, summed in order
        self.seen = 0
        self.at_hops = [0.0]  # running sum at samples 0, hop, 2 hop, ...

    def push(self, mono: npt.NDArray[np.float32]) -> None:
        x = mono.astype(np.float64)
        csum = np.cumsum(np.concatenate([[self.total], x * x]))  # csum[k]: sum to seen + k
        first = -(-self.seen // self.hop) * self.hop  # next multiple of hop at or after seen
        if first == self.seen:
            first += self.hop  # already stored
        idx = np.arange(first, self.seen + len(x) + 1, self.hop) - self.seen
        self.at_hops.extend(csum[idx].tolist())
        self.total = float(csum[-1])
        self.seen += len(x)

    def db(self, n_frames: int) -> npt.NDArray[np.float64]:
        n = self.seen
        centres = np.arange(n_frames) * self.hop
        lo = np.clip(centres - self.hop, 0, n)
        hi = np.clip(centres + self.hop, 0, n)
        sums = np.asarray(self.at_hops, dtype=np.float64)

        def at(k: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
            return np.where(k == n, self.total, sums[np.minimum(k // self.hop, len(sums) - 1)])

        power = (at(hi) - at(lo)) / np.maximum(hi - lo, 1)
        return 10.0 * np.log10(np.maximum(power, 1e-12))


class FrameF0:
    """:func:`core.analysis.phase.frame_f0_hz` of a clip of ``n_samples``, fed in order."""

    def __init__(
        self, seed_f0_hz: npt.NDArray[np.float64], sample_rate: int, hop_s: float, n_samples: int
    ) -> None:
        from core.analysis.phase import frame_reach

        self.seed = np.asarray(seed_f0_hz, dtype=np.float64)
        self.sample_rate, self.hop_s, self.n = sample_rate, hop_s, n_samples
        self.reach = frame_reach(self.seed, sample_rate, hop_s)
        self.out = np.full(len(self.seed), np.nan)
        self.buffer = np.zeros(0, dtype=np.float32)
        self.start = 0  # clip index of buffer[0]
        self.next_frame = 0

    def _centre(self, frame: int) -> int:
        return int(np.round(frame * self.hop_s * self.sample_rate))

    def push(self, mono: npt.NDArray[np.float32]) -> None:
        self.buffer = np.concatenate([self.buffer, np.asarray(mono, dtype=np.float32)])
        end = self.start + len(self.buffer)
        if end >= self.n:
            stop = len(self.seed)
        else:
            # Frames whose windows end inside what has arrived.
            stop = int((end - self.reach - 1) / (self.hop_s * self.sample_rate))
            while stop > self.next_frame and self._centre(stop - 1) + self.reach >= end:
                stop -= 1
            stop = max(stop, self.next_frame)
        if stop > self.next_frame:
            from core.analysis.phase import frame_f0_hz

            frame_f0_hz(self.buffer, self.sample_rate, self.seed, self.hop_s, offset=self.start,
                        n_samples=self.n, frames=(self.next_frame, stop), out=self.out)  # fmt: skip
            self.next_frame = stop
        keep_from = max(self.start, self._centre(self.next_frame) - self.reach)
        self.buffer = self.buffer[keep_from - self.start :]
        self.start = keep_from

    def result(self) -> npt.NDArray[np.float64]:
        if self.next_frame < len(self.seed):
            raise RuntimeError("FrameF0: the clip has not been fed to its end")
        return self.out
