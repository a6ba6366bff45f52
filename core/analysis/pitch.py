"""Pitch tracking: audio in, one f0 estimate and voicing probability every 10 ms out.

Stages (each in its own module): resample -> CQT + network (:mod:`models.network`, weights from
:mod:`models.checkpoint`) -> coarse pitch, onset hand-over and sub-cent refinement
(:mod:`models.decode`) -> voicing (:mod:`core.analysis.voicing`). Long recordings are processed
``chunk_frames`` at a time, from the resampling on, so memory stays bounded whatever the length;
every stage reads a fixed amount of context around each frame (the onset hand-over a few frames
of look-ahead, the resampler a few dozen samples), so a chunked run gives the same numbers as a
one-shot run. :func:`track_source` reads the samples from an :class:`~core.media.spool.AudioSource`,
so it can start on the first seconds of a clip while ffmpeg is still decoding the rest.
"""

from __future__ import annotations

import copy
import csv
import math
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

from core.analysis import voicing
from models import decode
from models.cqt import n_frames

if TYPE_CHECKING:
    import pandas as pd

    from core.media.spool import AudioSource
    from models.network import Tracker

HOP_S = 0.01  # s
DEFAULT_CHUNK_FRAMES = 1000  # 10 s per batch: ~50 MB of intermediates (refinement FFTs)
REFINE_MARGIN = 2048  # fine-rate samples each side of a frame the refinement may read (~900)
RESAMPLE_MARGIN = 64  # output samples each side the sinc resampler needs (its kernel: ~20)


@dataclass(frozen=True)
class PitchTrack:
    """Frame ``i`` is centred at ``i * hop_s``; ``f0_hz`` is NaN where no note sounds."""

    f0_hz: npt.NDArray[np.float64]
    voiced_prob: npt.NDArray[np.float32]
    hop_s: float = HOP_S
    # The take's harmonicity (models.decode.harmonicity_db over its first GATE_VOICED_FRAMES
    # voiced frames; inf when too few are voiced) as the first pass read it (the body's, for
    # the "auto" model: what its gate acted on), and whether a temporal refiner read the take.
    harmonicity_db: float = math.inf
    refined: bool = False

    def __post_init__(self) -> None:
        if self.f0_hz.shape != self.voiced_prob.shape or self.f0_hz.ndim != 1:
            raise ValueError("f0_hz and voiced_prob must be 1-D arrays of the same length")

    def __len__(self) -> int:
        return int(self.f0_hz.shape[0])

    @property
    def noisy(self) -> bool:
        """The take reads as recorded in noise or echo: under the "auto" model's gate
        (``models.decode.REFINE_BELOW_HARMONICITY_DB``), whatever model tracked it."""
        return self.harmonicity_db < decode.REFINE_BELOW_HARMONICITY_DB

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
    from core.media.spool import ArraySource

    audio = np.asarray(audio_mono, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio_mono must be 1-D [samples], got shape {audio.shape}")
    return track_source(
        ArraySource(audio[np.newaxis, :], sample_rate),
        device=device,
        tracker=tracker,
        chunk_frames=chunk_frames,
        threshold=threshold,
    )


def shipped_weights() -> list[str]:
    """Names of the shipped pitch models: ``"auto"`` and the files in models/weights
    (``"default"``, ``"refiner"``; not the onset network's ``onsets.pt``, no pitch model)."""
    from models.checkpoint import AUTO, WEIGHTS_DIR
    from models.onsets import WEIGHTS as ONSET_WEIGHTS

    pitch = (p.stem for p in WEIGHTS_DIR.glob("*.pt") if p.name != ONSET_WEIGHTS.name)
    return [AUTO, *sorted(pitch)]


def weights_path(name_or_path: str) -> Path:
    """Where a shipped model's name or a ``.pt`` path points (it may not exist)."""
    from models.checkpoint import AUTO, AUTO_WEIGHTS, resolve

    return resolve(AUTO_WEIGHTS if name_or_path == AUTO else name_or_path)


def shipped_tracker(device: str | None = None, weights: str = "auto") -> Tracker:
    """A shipped model (``"auto"``, ``"default"``, ``"refiner"``) or a ``.pt`` file on
    ``device`` (CUDA when available if None), loaded once."""
    from models.checkpoint import load_tracker

    return load_tracker(weights, device or default_device())


def _ready_tracker(tracker: Tracker | None, device: str | None) -> Tracker:
    if tracker is None:
        tracker = shipped_tracker(device)
    dev = tracker.device if device is None else torch.device(device)
    if tracker.device != dev:
        # Never move the caller's (possibly cached) tracker: work on a copy on that device.
        tracker = copy.deepcopy(tracker).to(dev)
    return tracker


class _Resampled:
    """Stretches of a signal at a lower rate, each bit for bit what one whole-signal
    ``torchaudio.functional.resample`` call gives there: the sinc filter reads a few dozen
    samples around each output, so a stretch computed with that much context and started on
    the filter's period (``orig // gcd`` input samples) yields the same numbers."""

    def __init__(self, read: Any, from_hz: int, to_hz: int, n_in: int) -> None:
        self.read = read  # (start, stop) -> torch [samples], zeros outside the signal
        self.from_hz, self.to_hz = from_hz, to_hz
        g = math.gcd(from_hz, to_hz)
        self.orig, self.new = from_hz // g, to_hz // g
        self.n_out = math.ceil(to_hz * n_in / from_hz) if from_hz != to_hz else n_in
        self._held: tuple[int, torch.Tensor] | None = None

    def _periods(self, start: int, stop: int) -> tuple[int, int]:
        """The filter periods [first, last) that output samples [start, stop) are made from."""
        first = (start - RESAMPLE_MARGIN) // self.new - 1
        last = -(-(stop + RESAMPLE_MARGIN) // self.new) + 1
        return first, last

    def reads(self, start: int, stop: int) -> tuple[int, int]:
        """The input samples [first, last) that output samples [start, stop) are made from."""
        if self.from_hz == self.to_hz:
            return start, stop
        first, last = self._periods(start, stop)
        return first * self.orig, last * self.orig

    def hold(self, start: int, stop: int) -> None:
        """Resample [start, stop) once and serve every later request inside it from that.

        A chunk reads the 16 kHz signal three times over nearly the same span (the coarse
        band's input, the top band, the refinement); one filter pass instead of three saves
        a tenth of the tracker's time, and each slice is the same numbers a call would give.
        """
        self._held = None
        self._held = (start, self(start, stop))

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        """Output samples [start, stop), zeros outside [0, n_out)."""
        if self._held is not None:
            at, held = self._held
            if at <= start and stop <= at + held.shape[-1]:
                return held[start - at : stop - at]
        if self.from_hz == self.to_hz:
            return self.read(start, stop)
        first, last = self._periods(start, stop)
        piece = self.read(first * self.orig, last * self.orig)
        out = _resample(piece, self.from_hz, self.to_hz)
        out = out[start - first * self.new : stop - first * self.new]
        # Past the signal's end the one-shot output has no samples: the caller's zeros.
        lo, hi = max(0, -start), max(0, min(stop, self.n_out) - start)
        if lo or hi < stop - start:
            keep = torch.zeros_like(out)
            keep[lo:hi] = out[lo:hi]
            out = keep
        return out


@torch.inference_mode()
def track_source(
    source: AudioSource,
    *,
    device: str | None = None,
    tracker: Tracker | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    threshold: float = voicing.DEFAULT_THRESHOLD,
) -> PitchTrack:
    """:func:`track_pitch` of the mono mix of ``source``, read ``chunk_frames`` at a time.

    Each chunk waits only for the samples it needs (plus a little context), so on a spool
    that is still being written the tracker follows the decoder; no whole-clip array is made.

    A tracker with a harmonicity gate (``load_tracker("auto")``) starts with its body alone
    and reads the take's harmonicity from its first ``decode.GATE_VOICED_FRAMES`` voiced
    frames (5 s of notes). At or above the gate it goes on as it started; below it (a noisy,
    echoing room) it starts over with its temporal refiner and the longer lag search of a
    noisy take (``models.decode.NOISY_SEARCH``), so a noisy take costs one pass plus its first
    seconds, and both passes follow a decoder that is still writing.
    """
    tracker = _ready_tracker(tracker, device)
    gate = tracker.harmonicity_gate_db if tracker.refiner is not None else None
    if gate is None:
        return track_pass(
            source, tracker, refine=True, chunk_frames=chunk_frames, threshold=threshold
        )
    body = _pass_chunks(source, tracker, refine=False, chunk_frames=chunk_frames)
    parts: list[_Chunk] = []
    for part in body:
        parts.append(part)
        if _voiced_frames(parts) >= decode.GATE_VOICED_FRAMES:
            break
    reading = _harmonicity(parts)
    if reading >= gate:
        parts.extend(body)
        return _finish(parts, threshold, harmonicity_db=reading, refined=False)
    body.close()
    noisy = _pass_chunks(
        source, tracker, refine=True, search=decode.NOISY_SEARCH, chunk_frames=chunk_frames
    )
    return _finish(list(noisy), threshold, harmonicity_db=reading, refined=True)


@torch.inference_mode()
def track_pass(
    source: AudioSource,
    tracker: Tracker,
    *,
    refine: bool,
    search: decode.LagSearch = decode.CLEAN_SEARCH,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    threshold: float = voicing.DEFAULT_THRESHOLD,
) -> PitchTrack:
    """One pass of :func:`track_source` over ``source`` on ``tracker``'s device, with or
    without its refiner, the sub-cent refinement reading the waveform as ``search`` says
    (a noisy take's: ``models.decode.NOISY_SEARCH``); no gate."""
    parts = list(
        _pass_chunks(source, tracker, refine=refine, search=search, chunk_frames=chunk_frames)
    )
    return _finish(
        parts,
        threshold,
        harmonicity_db=_harmonicity(parts),
        refined=refine and tracker.refiner is not None,
    )


@dataclass(frozen=True)
class _Chunk:
    """One chunk's frames: refined f0 (Hz), the lag search's NCCF peak, capped voicing."""

    f0_hz: torch.Tensor
    periodicity: torch.Tensor
    voiced_prob: torch.Tensor


def _voiced_frames(parts: list[_Chunk]) -> int:
    return sum(int((p.voiced_prob >= voicing.DEFAULT_THRESHOLD).sum()) for p in parts)


def _harmonicity(parts: list[_Chunk]) -> float:
    """The gate's reading: the first ``GATE_VOICED_FRAMES`` frames voiced before smoothing
    (a frame's own answer, so it does not depend on where the chunks end), at the default
    voicing threshold whatever the caller's: which notes the gate listens to is not the
    caller's choice of which frames to report."""
    if not parts:
        return math.inf
    periodicity = torch.cat([p.periodicity for p in parts])
    voiced = torch.cat([p.voiced_prob for p in parts]) >= voicing.DEFAULT_THRESHOLD
    voiced &= torch.cumsum(voiced.int(), 0) <= decode.GATE_VOICED_FRAMES
    return decode.harmonicity_db(periodicity, voiced)


def _finish(
    parts: list[_Chunk], threshold: float, *, harmonicity_db: float, refined: bool
) -> PitchTrack:
    if not parts:
        return PitchTrack(np.zeros(0, np.float64), np.zeros(0, np.float32))
    prob = voicing.median_smooth(torch.cat([p.voiced_prob for p in parts]))
    f0_all = voicing.apply_threshold(torch.cat([p.f0_hz for p in parts]), prob.double(), threshold)
    return PitchTrack(
        f0_all.numpy().astype(np.float64),
        prob.numpy().astype(np.float32),
        harmonicity_db=harmonicity_db,
        refined=refined,
    )


def _pass_chunks(
    source: AudioSource,
    tracker: Tracker,
    *,
    refine: bool,
    chunk_frames: int,
    search: decode.LagSearch = decode.CLEAN_SEARCH,
) -> Generator[_Chunk, None, None]:
    """The chunks of one pass, each computed when asked for (a caller may stop early)."""
    from core.media.audio import to_mono

    dev = tracker.device
    sample_rate = source.sample_rate
    params = tracker.cqt_params

    def read_mono(start: int, stop: int) -> torch.Tensor:
        wave = to_mono(source.read(start, stop))
        return torch.from_numpy(np.ascontiguousarray(wave)).to(dev)

    pitch_path = decode.PitchPath()
    hop_fine = round(HOP_S * decode.REFINE_SAMPLE_RATE)
    high = params.high() if params.high_n_bins else None
    high_reach_s = high.kernel_width / high.sample_rate if high is not None else 0.0
    # The temporal refiner reads this many frames each side: the network also runs over them
    # (clipped to the clip, where the refiner pads as a one-shot run does) and they are cut off.
    context = tracker.context_frames if refine else 0
    onset_ratio = decode.ONSET_RATIO_REFINED if context else decode.ONSET_RATIO
    first = 0
    while True:
        # Enough of the clip for this chunk and its look-ahead, or the whole rest of it.
        # Everything the chunk reads (CQT and refinement context, resampler taps) must be
        # decoded, or the clip must have ended: only then are its zeros the clip's own.
        reach_s = (
            (first + chunk_frames + decode.CONTEXT_FRAMES + context + 1) * HOP_S
            + max(params.kernel_width / params.sample_rate, high_reach_s)
            + (REFINE_MARGIN + 4 * RESAMPLE_MARGIN) / decode.REFINE_SAMPLE_RATE
        )
        need = math.ceil(reach_s * sample_rate)
        ended = source.wait(need) < need
        n_in = source.length if ended else None
        total = n_frames(n_in, sample_rate, HOP_S) if n_in is not None else None
        if total is not None and first >= total:
            break
        stop = first + chunk_frames if total is None else min(total, first + chunk_frames)
        ahead = stop + decode.CONTEXT_FRAMES
        lo, hi = max(0, first - context), ahead + context
        if total is not None:
            ahead, hi = min(total, ahead), min(total, hi)
        # The resamplers know the signal's length only once it is decoded; before that their
        # outputs are all inside it (the chunk ends well before what has been decoded).
        length = n_in if n_in is not None else 1 << 62
        fine = _Resampled(read_mono, sample_rate, decode.REFINE_SAMPLE_RATE, length)
        coarse = _Resampled(fine, decode.REFINE_SAMPLE_RATE, params.sample_rate, fine.n_out)
        margin = params.margin_samples
        c0 = lo * params.hop_length - margin
        c1 = max((hi - 1) * params.hop_length + margin + 1, c0 + params.kernel_width)
        f0_lo = first * hop_fine - REFINE_MARGIN
        f0_hi = (stop - 1) * hop_fine + REFINE_MARGIN + 1
        spans = [coarse.reads(c0, c1), (f0_lo, f0_hi)]
        band = None
        if high is not None:
            # The top band reads the 16 kHz audio (or its own rate) over the same frames.
            band = (
                fine
                if high.sample_rate == decode.REFINE_SAMPLE_RATE
                else (_Resampled(fine, decode.REFINE_SAMPLE_RATE, high.sample_rate, fine.n_out))
            )
            h0 = lo * high.hop_length - high.margin_samples
            h1 = (hi - 1) * high.hop_length + high.margin_samples + 1
            spans.append((h0, h1) if band is fine else band.reads(h0, h1))
        fine.hold(min(a for a, _ in spans), max(b for _, b in spans))
        piece = coarse(c0, c1)
        high_piece = band(h0, h1)[None] if band is not None else None
        pitch_probs, voiced = tracker(
            piece[None], high_piece, frames=hi - lo if context else None, refine=refine
        )
        if context:
            pitch_probs = pitch_probs[:, first - lo : ahead - lo]
            voiced = voiced[:, first - lo : ahead - lo]
        path = pitch_path.advance(pitch_probs[0], stop - first, final=ahead == total)
        peaks = decode.extend_onsets(pitch_probs[0, : len(path)], start=path, ratio=onset_ratio)
        midi = decode.local_average_midi(
            pitch_probs[0, : stop - first],
            midi0=tracker.pitch_bin_midi0,
            bins_per_semitone=tracker.bins_per_semitone,
            peak_bins=peaks[: stop - first],
        )
        fine_piece = fine(f0_lo, f0_hi)
        centers = torch.arange(first, stop, device=dev) * hop_fine - f0_lo
        f0, periodicity = decode.refine_f0_hz(
            fine_piece,
            centers,
            decode.midi_to_hz(midi),
            window_s=search.window_s,
            min_lag_s=search.min_lag_s,
        )
        peak = pitch_probs[0, : stop - first].amax(dim=-1)
        capped = voicing.cap_by_pitch_peak(voiced[0, : stop - first], peak).float()
        yield _Chunk(f0.cpu(), periodicity.cpu(), capped.cpu())
        first = stop
        if total is not None and first >= total:
            break
