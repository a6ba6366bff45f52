"""Pitch tracking: audio in, one f0 estimate and voicing probability every 10 ms out.

Stages (each in its own module): resample -> CQT + network (:mod:`models.network`, weights from
:mod:`models.checkpoint`) -> coarse pitch, onset hand-over and sub-cent refinement
(:mod:`models.decode`) -> voicing (:mod:`core.voicing`). Long recordings are processed
``chunk_frames`` at a time, so memory stays bounded; every stage reads a fixed amount of context
around each frame (the onset hand-over a few frames of look-ahead), so a chunked run gives the
same numbers as a one-shot run.
"""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from core import voicing
from models import decode
from models.cqt import chunk_audio, n_frames

if TYPE_CHECKING:
    import pandas as pd

    from models.network import Tracker

HOP_S = 0.01  # s
DEFAULT_CHUNK_FRAMES = 3000  # 30 s per batch: ~150 MB of intermediates (refinement FFTs)


@dataclass(frozen=True)
class PitchTrack:
    """Frame ``i`` is centred at ``i * hop_s``; ``f0_hz`` is NaN where no note sounds."""

    f0_hz: npt.NDArray[np.float64]
    voiced_prob: npt.NDArray[np.float32]
    hop_s: float = HOP_S

    def __post_init__(self) -> None:
        if self.f0_hz.shape != self.voiced_prob.shape or self.f0_hz.ndim != 1:
            raise ValueError("f0_hz and voiced_prob must be 1-D arrays of the same length")

    def __len__(self) -> int:
        return int(self.f0_hz.shape[0])

    @property
    def times_s(self) -> npt.NDArray[np.float64]:
        return np.arange(len(self), dtype=np.float64) * self.hop_s

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {"time_s": self.times_s, "f0_hz": self.f0_hz, "voiced_prob": self.voiced_prob}
        )

    def to_csv(self, path: Path | str) -> None:
        """time_s, f0_hz, voiced_prob; f0_hz is an empty field where unvoiced."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["time_s", "f0_hz", "voiced_prob"])
            for t, f, p in zip(self.times_s, self.f0_hz, self.voiced_prob, strict=True):
                writer.writerow([f"{t:.2f}", "" if math.isnan(f) else f"{f:.4f}", f"{p:.4f}"])


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _resample(audio: torch.Tensor, from_hz: int, to_hz: int) -> torch.Tensor:
    if from_hz == to_hz:
        return audio
    import torchaudio.functional as taf

    return taf.resample(audio, from_hz, to_hz)


@torch.inference_mode()
def track_pitch(
    audio_mono: npt.NDArray[np.floating],
    sample_rate: int,
    *,
    device: str | None = None,
    tracker: Tracker | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    threshold: float = voicing.DEFAULT_THRESHOLD,
) -> PitchTrack:
    """Track the pitch of a mono recording.

    Arguments
        audio_mono (np.ndarray [samples], float): the waveform, any sample rate.
        sample_rate: Hz.
        device: ``"cuda"``/``"cpu"``; defaults to cuda when available.
        tracker: a loaded :class:`models.network.Tracker`; defaults to the shipped weights.
        chunk_frames: frames per network batch (memory bound, not a result-changing setting).
    Returns
        PitchTrack with one frame per 10 ms, frame ``i`` centred at ``i * 0.01`` s.
    """
    if tracker is None:
        from models.checkpoint import load_tracker

        tracker = load_tracker("default", device or default_device())
    dev = tracker.device if device is None else torch.device(device)
    if tracker.device != dev:
        # Never move the caller's (possibly cached) tracker: work on a copy on that device.
        tracker = copy.deepcopy(tracker).to(dev)
    audio = np.asarray(audio_mono, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio_mono must be 1-D [samples], got shape {audio.shape}")
    total = n_frames(audio.shape[0], sample_rate, HOP_S)
    if total == 0:
        return PitchTrack(np.zeros(0, np.float64), np.zeros(0, np.float32))

    params = tracker.cqt_params
    wave = torch.from_numpy(np.ascontiguousarray(audio)).to(dev)
    fine = _resample(wave, sample_rate, decode.REFINE_SAMPLE_RATE)
    coarse_rate = _resample(fine, decode.REFINE_SAMPLE_RATE, params.sample_rate)
    hop_fine = round(HOP_S * decode.REFINE_SAMPLE_RATE)

    f0_parts: list[torch.Tensor] = []
    prob_parts: list[torch.Tensor] = []
    for first in range(0, total, chunk_frames):
        stop = min(total, first + chunk_frames)
        # Look-ahead so that onset decoding near the chunk's end sees what a one-shot run sees.
        ahead = min(total, stop + decode.ONSET_CONTEXT_FRAMES)
        piece = chunk_audio(coarse_rate, params, first, ahead)
        pitch_probs, voiced = tracker(piece[None])
        peaks = decode.extend_onsets(pitch_probs[0])
        midi = decode.local_average_midi(
            pitch_probs[0, : stop - first],
            midi0=tracker.pitch_bin_midi0,
            bins_per_semitone=tracker.bins_per_semitone,
            peak_bins=peaks[: stop - first],
        )
        centers = torch.arange(first, stop, device=dev) * hop_fine
        f0, _periodicity = decode.refine_f0_hz(fine, centers, decode.midi_to_hz(midi))
        f0_parts.append(f0.cpu())
        prob_parts.append(voiced[0, : stop - first].float().cpu())

    f0_all = torch.cat(f0_parts)
    prob = voicing.median_smooth(torch.cat(prob_parts))
    f0_all = voicing.apply_threshold(f0_all, prob.double(), threshold)
    return PitchTrack(f0_all.numpy().astype(np.float64), prob.numpy().astype(np.float32))


def track_file(path: Path | str, *, device: str | None = None) -> PitchTrack:
    """Decode any audio/video file ffmpeg reads (:mod:`core.probe`, :mod:`core.media`), track it."""
    from core.audio import to_mono
    from core.media import decode_audio
    from core.probe import probe

    info = probe(Path(path))
    audio = decode_audio(Path(path), info)
    return track_pitch(to_mono(audio), int(info.sample_rate), device=device)
