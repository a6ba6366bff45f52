"""The fundamental's phase, sample by sample: pitch marks for the shifter, pitch for the report.

The signal is heterodyned with the tracker's f0 and low-passed with a one-period moving average,
whose angle is the fundamental's phase offset (:func:`track_phase`). The shifter lays its grains
on the whole cycles of that phase, and the same idea on a few periods per frame
(:func:`frame_f0_hz`) measures what a note's fundamental really is: whether an octave-slipped
track has a fundamental under it at all, and what the shifter actually did. It lives here, with
the listening, because the planner and the report use it as much as the shifter does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PHASOR_GRID_HZ = 11025  # Hz: rate at which the low-passed phasor is evaluated
FRAME_WINDOW_PERIODS = 4.0  # periods per window in frame_f0_hz (Hann: zeros on harmonics)
MIN_FUNDAMENTAL_SHARE = 0.1  # fundamental amplitude / RMS below which the phase is not trusted
MAX_SEED_ERROR_CENTS = 50.0  # cents: a refined frame this far from the tracker's is not a pitch
PHASE_SMOOTH_PERIODS = 3.0  # periods in the phasor's second moving average (see track_phase)


@dataclass(frozen=True)
class PhaseTrack:
    """The fundamental's phase in cycles at every sample, and where it can be trusted."""

    phase_cycles: npt.NDArray[np.float64]  # [samples], non-decreasing
    confident: npt.NDArray[np.bool_]  # [samples]: voiced, so marks follow the waveform
    sample_rate: int
    start: int = 0  # index in the recording of phase_cycles[0]


def frames_to_samples(
    values: npt.NDArray[np.float64], hop_s: float, sample_rate: int, n_samples: int
) -> npt.NDArray[np.float64]:
    """Linear interpolation of a frame curve (frame i at i * hop_s) onto every sample."""
    frame_times = np.arange(len(values)) * hop_s * sample_rate
    return np.interp(np.arange(n_samples, dtype=np.float64), frame_times, values)


def _fill_gaps(f0_hz: npt.NDArray[np.float64], fallback_hz: float) -> npt.NDArray[np.float64]:
    """NaN frames take the nearest voiced value, so the nominal phase runs through gaps."""
    f = np.asarray(f0_hz, dtype=np.float64).copy()
    voiced = np.isfinite(f) & (f > 0)
    if not voiced.any():
        return np.full_like(f, fallback_hz)
    idx = np.arange(len(f))
    return np.interp(idx, idx[voiced], f[voiced])


def _moving_mean(values: npt.NDArray[Any], width: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """Centred moving average with a per-sample window length (cumulative-sum trick)."""
    n = len(values)
    csum = np.concatenate([[0], np.cumsum(values)])
    half = width // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) - half + width, 0, n)
    return (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)


def track_phase(
    mono: npt.NDArray[np.floating],
    sample_rate: int,
    f0_hz: npt.NDArray[np.float64],
    hop_s: float,
    *,
    start: int = 0,
    stop: int | None = None,
    offset: int = 0,
) -> PhaseTrack:
    """Refine the tracker's f0 into the fundamental's phase at every sample.

    The signal is multiplied by ``exp(-2 pi i * nominal phase)``, which moves the fundamental to
    0 Hz and every harmonic k to (k - 1) f0; a one-period moving average nulls those harmonics
    and leaves the fundamental's slowly turning phasor, whose angle corrects the nominal phase.
    A second moving average over ``PHASE_SMOOTH_PERIODS`` periods (also nulls on every
    harmonic) narrows the band the phase is read in: with one period, pink noise at 10 dB SNR
    moved the marks of a weak fundamental enough to leave notes 1.3 c off (median, bench.rooms'
    shifter table) and up to 2.4 c (tests/test_retune.py); three periods give 0.6 c and leave
    clean takes, vibrato and bench.retune's figures as they were (at eight periods the clean
    residual began to grow, 0.20 -> 0.30 c). Where the track is unvoiced the correction is frozen.

    The averaged phasor changes slowly (it is low-passed below f0), so it is evaluated on a grid
    of every ``sample_rate // PHASOR_GRID_HZ`` samples and interpolated: the same marks at a
    quarter of the cost (the whole phase track of 60 s of 48 kHz audio takes ~0.2 s).
    """
    stop = len(mono) + offset if stop is None else stop
    x = np.asarray(mono[start - offset : stop - offset], dtype=np.float32)  # mono[0]: `offset`
    n = len(x)
    f_frames = np.asarray(f0_hz, dtype=np.float64)
    voiced_frames = np.isfinite(f_frames) & (f_frames > 0)
    median_hz = float(np.median(f_frames[voiced_frames])) if voiced_frames.any() else 220.0
    frame_at = np.arange(len(f_frames)) * hop_s * sample_rate - start  # frame times, local
    f_samples = np.interp(np.arange(n, dtype=np.float64), frame_at, _fill_gaps(f_frames, median_hz))
    nominal = np.cumsum(f_samples / sample_rate)
    if n:
        nominal -= nominal[0]
    # Heterodyne in float32 on the fractional phase (exact), accumulate in float64.
    turn = np.mod(nominal, 1.0).astype(np.float32)
    turn *= np.float32(2.0 * np.pi)
    step = max(1, sample_rate // PHASOR_GRID_HZ)
    grid = np.arange(0, n, step)
    period = np.maximum(np.round(sample_rate / f_samples[grid]).astype(np.int64), 2)
    lo = np.clip(grid - period // 2, 0, n)
    hi = np.clip(grid - period // 2 + period, 0, n)
    span = np.maximum(hi - lo, 1)

    def boxcar(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """One-period moving average of ``values``, evaluated on the grid only."""
        total = np.empty(n + 1, dtype=np.float64)
        total[0] = 0.0
        np.cumsum(values, dtype=np.float64, out=total[1:])
        return (total[hi] - total[lo]) / span

    phasor = boxcar(x * np.cos(turn)) - 1j * boxcar(x * np.sin(turn))
    power = boxcar(np.square(x))
    # Second pass on the grid: PHASE_SMOOTH_PERIODS more periods, in grid points.
    width = np.maximum(np.round(PHASE_SMOOTH_PERIODS * period / step).astype(np.int64), 1)
    phasor = _moving_mean(phasor, width)
    power = _moving_mean(power, width).real
    angle = np.angle(phasor)
    # The fundamental must carry a real share of the energy: an octave-low track heterodynes
    # onto nothing (a subharmonic), and its "phase" would be noise.
    strength = np.sqrt(2.0) * np.abs(phasor) / np.sqrt(np.maximum(power, 1e-20))
    voiced_grid = np.interp(grid, frame_at, voiced_frames)
    confident_grid = (voiced_grid > 0.999) & (strength > MIN_FUNDAMENTAL_SHARE)
    turn_step = np.diff(angle, prepend=angle[:1] if len(angle) else angle)
    turn_step = (turn_step + np.pi) % (2 * np.pi) - np.pi
    turn_step[~confident_grid] = 0.0
    correction = np.cumsum(turn_step) / (2 * np.pi)
    # Start the correction from the first confident point's absolute angle, so marks sit on
    # the same point of every period (the fundamental's positive peak).
    first = np.flatnonzero(confident_grid)
    if len(first):
        correction += angle[first[0]] / (2 * np.pi) - correction[first[0]]
    phase = nominal + np.interp(np.arange(n, dtype=np.float64), grid, correction)
    # Noise can turn the phase back for a moment; marks need it non-decreasing.
    phase = np.maximum.accumulate(phase)
    confident = np.repeat(confident_grid, step)[:n]
    return PhaseTrack(phase_cycles=phase, confident=confident, sample_rate=sample_rate, start=start)


def refined_f0_hz(phase: PhaseTrack, hop_s: float, n_frames: int) -> npt.NDArray[np.float64]:
    """Average fundamental frequency over each frame from the phase (NaN where not confident)."""
    sr = phase.sample_rate
    n = len(phase.phase_cycles)
    centres = np.arange(n_frames) * hop_s * sr - phase.start
    half = hop_s * sr / 2.0
    lo = np.clip(centres - half, 0, n - 1)
    hi = np.clip(centres + half, 0, n - 1)
    idx = np.arange(n, dtype=np.float64)
    cycles = np.interp(hi, idx, phase.phase_cycles) - np.interp(lo, idx, phase.phase_cycles)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = cycles * sr / (hi - lo)
    sure = phase.confident[np.clip(np.round(centres).astype(np.int64), 0, n - 1)]
    sure &= (centres >= 0) & (centres < n)
    return np.where(sure & (hi > lo) & (f > 0), f, np.nan)


def frame_f0_hz(
    mono: npt.NDArray[np.floating],
    sample_rate: int,
    seed_f0_hz: npt.NDArray[np.float64],
    hop_s: float,
    *,
    offset: int = 0,
    n_samples: int | None = None,
    frames: tuple[int, int] | None = None,
    out: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """The fundamental's frequency at each frame, refined from a seed (NaN where unmeasurable).

    Cheap sibling of :func:`track_phase` for measuring rather than shifting: it looks only at
    a few periods around each frame. Two Hann windows of ``FRAME_WINDOW_PERIODS`` seed periods,
    ``hop_s / 2`` apart, are heterodyned with the seed; a Hann window that long has spectral
    zeros on every harmonic, so each gives the fundamental's phasor, and the phase advance
    between them is the frequency offset from the seed. A frame whose fundamental carries less
    than ``MIN_FUNDAMENTAL_SHARE`` of its RMS (an octave-low seed) or lands more than
    ``MAX_SEED_ERROR_CENTS`` from the seed (noise) is NaN.

    Streaming: ``mono`` may be a stretch of a clip of ``n_samples`` that starts at sample
    ``offset``; only the frames in ``frames`` (first, stop) are measured, into ``out``. Each
    frame reads only :func:`frame_reach` samples either side of its centre, so stretches that
    hold that much context give the numbers a whole-clip call gives.
    """
    x = np.asarray(mono, dtype=np.float32)
    n = len(x) if n_samples is None else n_samples
    seed = np.asarray(seed_f0_hz, dtype=np.float64)
    if out is None:
        out = np.full(len(seed), np.nan)
    usable = np.flatnonzero(np.isfinite(seed) & (seed > 0))
    if frames is not None:
        usable = usable[(usable >= frames[0]) & (usable < frames[1])]
    if n == 0 or len(usable) == 0:
        return out
    gap = max(1, round(hop_s * sample_rate / 2))  # samples between the two windows
    centres = np.round(usable * hop_s * sample_rate).astype(np.int64)
    lengths = np.ceil(FRAME_WINDOW_PERIODS * sample_rate / seed[usable]).astype(np.int64)
    # Frames grouped by window length (next power of two), so short windows are not padded to
    # a bass note's length.
    buckets = np.maximum(2 ** np.ceil(np.log2(np.maximum(lengths, 2))), 8).astype(np.int64)
    for size in np.unique(buckets):
        sel = np.flatnonzero(buckets == size)
        f = seed[usable[sel]]
        # float32 trigonometry: angles stay within a few periods, so precision is ample.
        length = lengths[sel].astype(np.float32)
        offsets = np.arange(size, dtype=np.float32) - np.float32(size / 2.0)
        inside = np.abs(offsets)[None, :] < length[:, None] / 2
        window = np.where(
            inside,
            0.5 + 0.5 * np.cos(np.float32(2 * np.pi) * offsets[None, :] / length[:, None]),
            0,
        ).astype(np.float32)
        theta = (
            np.float32(2 * np.pi / sample_rate) * f.astype(np.float32)[:, None] * offsets[None, :]
        )
        cos_t, sin_t = np.cos(theta), np.sin(theta)
        phasors = []
        powers = []
        for shift in (-gap // 2, gap - gap // 2):
            where = centres[sel, None] + shift + offsets[None, :].astype(np.int64)
            weight = (window * ((where >= 0) & (where < n))).astype(np.float32)
            samples = x[np.clip(where, 0, n - 1) - offset] * weight
            norm = np.maximum(weight.sum(axis=1), 1e-12)
            # Phase relative to the seed's phase at the *frame* centre, common to both windows.
            turn = np.exp(-2j * np.pi * f * shift / sample_rate)
            re = np.einsum("ij,ij->i", samples, cos_t)
            im = np.einsum("ij,ij->i", samples, sin_t)
            phasors.append(turn * (re - 1j * im) / norm)
            powers.append(
                np.einsum("ij,ij->i", samples, samples / np.maximum(weight, 1e-12)) / norm
            )
        advance = np.angle(phasors[1] * np.conj(phasors[0]))  # radians over `gap` samples
        f_est = f + advance / (2 * np.pi) * sample_rate / gap
        amplitude = np.sqrt(np.abs(phasors[0]) * np.abs(phasors[1]))
        rms = np.sqrt(np.maximum(0.5 * (powers[0] + powers[1]), 1e-20))
        # A Hann-weighted phasor of a sine of amplitude A is A/2; its RMS is A/sqrt(2).
        strength = np.sqrt(2.0) * amplitude / rms
        # Noise that a tracker calls voiced has no steady phase: its "frequency" lands anywhere
        # within +-sample_rate / (2 * gap) of the seed, rarely near it.
        with np.errstate(divide="ignore", invalid="ignore"):
            near = np.abs(1200.0 * np.log2(f_est / f)) < MAX_SEED_ERROR_CENTS
        good = (strength > MIN_FUNDAMENTAL_SHARE) & near
        out[usable[sel[good]]] = f_est[good]
    return out


def frame_reach(seed_f0_hz: npt.NDArray[np.float64], sample_rate: int, hop_s: float) -> int:
    """Samples either side of a frame centre that :func:`frame_f0_hz` may read for ``seed``."""
    seed = np.asarray(seed_f0_hz, dtype=np.float64)
    usable = seed[np.isfinite(seed) & (seed > 0)]
    if len(usable) == 0:
        return 0
    longest = int(np.ceil(FRAME_WINDOW_PERIODS * sample_rate / usable.min()))
    size = max(int(2 ** np.ceil(np.log2(max(longest, 2)))), 8)
    gap = max(1, round(hop_s * sample_rate / 2))
    return size // 2 + gap + 2
