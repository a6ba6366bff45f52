"""How to move a note: a phase-locked, time-domain PSOLA shifter in torch.

Why PSOLA, and why these pitch marks. PSOLA cuts two-period grains around pitch marks and lays
them back at the target period; the grains carry the spectral envelope untouched, so formants
(timbre) stay where they were and duration is exact by construction (each output time takes the
grain nearest to it in the input). Phase vocoders and rubberband blur transients and need
phase-locking heuristics; WORLD-style resynthesis replaces the breath noise with a model. PSOLA's
weak spot is its pitch marks: marks that drift against the waveform turn an f0 estimate error
straight into a pitch error. So the marks here are **locked to the fundamental's own phase**: the
signal is heterodyned with the tracker's f0 and low-passed with a one-period moving average,
whose angle is the fundamental's phase offset; marks sit where the refined phase crosses whole
cycles. That makes the marks sub-sample exact, so the output's pitch is set by the synthesis
marks and the shift ratio alone. The same marks drive every channel, so stereo images don't
smear. The phase is tracked only around regions that move; marks are O(N) numpy; the grain
gather and overlap-add, the bulk of the work, run in torch on whatever device is given.
Rubberband's R3 engine (--freqmap, formant mode) sounds as clean on sustained notes but costs
~10x the time on this CPU; Praat's overlap-add is fast but lets its own marks wander (see
bench/retune.py for the side-by-side numbers).

The phase itself is measured in :mod:`core.analysis.phase`, which also gives the report and the
planner :func:`~core.analysis.phase.frame_f0_hz`, the same heterodyne idea on a few periods per
frame.

Where nothing moves, the input is returned bit for bit: the shifter only writes inside regions
where the shift is non-zero, each ending with the synthesis phase realigned onto the input's
phase and a short crossfade back to the original samples.

What to shift comes from :mod:`core.plan.targets` (:func:`~core.plan.targets.shift_curve_cents`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from core.analysis.phase import PhaseTrack, frames_to_samples, track_phase
from core.plan.targets import NO_SHIFT_CENTS, RAMP_S

if TYPE_CHECKING:
    from core.media.spool import AudioSource

MARK_MARGIN_S = 0.05  # s: analysis marks are tracked this far beyond a shifted region
FADE_S = 0.01  # s: crossfade from a shifted region back to the untouched input
_GRAIN_BATCH = 8192  # grains per overlap-add batch


def _crossings(phase: npt.NDArray[np.float64], start: int, end: int) -> npt.NDArray[np.float64]:
    """Sub-sample times in [start, end) where ``phase`` passes a whole number of cycles."""
    seg = phase[start:end]
    if len(seg) < 2:
        return np.zeros(0)
    whole = np.arange(np.ceil(seg[0]), np.floor(seg[-1]) + 1)
    pos = np.searchsorted(seg, whole, side="left")
    pos = np.clip(pos, 1, len(seg) - 1)
    p0, p1 = seg[pos - 1], seg[pos]
    frac = np.where(p1 > p0, (whole - p0) / np.where(p1 > p0, p1 - p0, 1.0), 0.0)
    return np.asarray(start + pos - 1 + frac, dtype=np.float64)


# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# The shifter


def _regions(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _catmull_rom_weights(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """4-tap cubic (Catmull-Rom) interpolation weights for fractions ``t`` in [0, 1).

    Linear interpolation would dull the top octave a little more for every grain placed between
    samples; the cubic keeps high harmonics of a flute or a voice within a fraction of a dB.
    """
    t2 = t * t
    t3 = t2 * t
    return (
        0.5 * (-t + 2 * t2 - t3),
        0.5 * (2 - 5 * t2 + 3 * t3),
        0.5 * (t + 4 * t2 - 3 * t3),
        0.5 * (-t2 + t3),
    )


def shift_pitch(
    audio: npt.NDArray[np.float32],
    sample_rate: int,
    f0_hz: npt.NDArray[np.float64],
    shift_cents: npt.NDArray[np.float64],
    hop_s: float,
    *,
    device: str | torch.device | None = None,
    phase: PhaseTrack | None = None,
    mono: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """Shift pitch by a time-varying number of cents, keeping duration and formants.

    Args:
        audio: ``[channels, samples]`` float32; every channel is shifted with the same marks.
        sample_rate: Hz.
        f0_hz: ``[frames]`` pitch track (NaN unvoiced) that seeds the phase-locked marks.
        shift_cents: ``[frames]`` per-frame shift (frame i at ``i * hop_s``), 0 = untouched.
        hop_s: frame hop of ``f0_hz`` and ``shift_cents`` in seconds.
        device: torch device for the overlap-add (default CPU).
        phase: the whole recording's :func:`track_phase`, if already computed; otherwise the
            phase is tracked only where something moves.
        mono: the mono mix of ``audio``, if the caller already has it.

    Returns:
        ``[channels, samples]`` float32, the same length; identical to ``audio`` wherever the
        shift (and its crossfade) is zero.
    """
    out = np.array(audio, dtype=np.float32, copy=True)
    n = out.shape[-1]
    if n == 0 or not np.any(np.abs(shift_cents) > NO_SHIFT_CENTS):
        return out
    shift_s = frames_to_samples(np.asarray(shift_cents, dtype=np.float64), hop_s, sample_rate, n)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    # Many phones write one microphone into two identical channels: shift it once.
    if out.shape[0] > 1 and all(np.array_equal(out[0], ch) for ch in out[1:]):
        single = shift_pitch(out[:1], sample_rate, f0_hz, shift_cents, hop_s, device=device,
                             phase=phase, mono=out[0].copy() if mono is None else mono)  # fmt: skip
        return np.repeat(single, out.shape[0], axis=0)
    if mono is None:
        # The input's mix, never a view of ``out``: a region's phase is tracked on the input,
        # not on what the region before it already wrote into its margin.
        mono = out.mean(axis=0) if out.shape[0] > 1 else out[0].copy()

    def phase_for(start: int, stop: int) -> PhaseTrack:
        if phase is not None:
            local = slice(start - phase.start, stop - phase.start)
            return PhaseTrack(phase.phase_cycles[local], phase.confident[local], sample_rate, start)
        return track_phase(mono, sample_rate, f0_hz, hop_s, start=start, stop=stop)

    with _single_thread_on_cpu(dev):
        _shift_regions(out, dev, phase_for, shift_s, sample_rate)
    return out


@contextmanager
def _single_thread_on_cpu(dev: torch.device) -> Iterator[None]:
    """Run the overlap-add on one CPU thread.

    The gathers here are memory-bound and split into many small ops; with OpenMP's default
    active waiting, two threads on a loaded two-core host spent 20-50x longer spinning at
    barriers than computing (0.32 s vs 0.008 s for 225k grain taps, measured).
    """
    if dev.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _shift_regions(
    out: npt.NDArray[np.float32],
    dev: torch.device,
    phase_for: Callable[[int, int], PhaseTrack],
    shift_s: npt.NDArray[np.float64],
    sample_rate: int,
) -> None:
    """Shift every region where ``shift_s`` (cents per sample) is non-zero, in place."""
    n = out.shape[-1]
    moving = np.abs(shift_s) > NO_SHIFT_CENTS
    signal = torch.from_numpy(out.copy()).to(dev)
    for r0, r1 in _regions(moving):
        s0, s1, shifted, weight = _shift_region(
            signal, 0, n, phase_for, lambda a, b: shift_s[a:b], r0, r1, sample_rate, dev
        )
        original = out[:, s0:s1]
        out[:, s0:s1] = original + weight[None, :] * (shifted - original)


def region_span(r0: int, r1: int, n: int, sample_rate: int) -> tuple[int, int, int, int]:
    """(s0, s1, a0, a1): the samples a region writes (with its fades) and whose phase it reads."""
    fade = max(1, round(FADE_S * sample_rate))
    margin = round(MARK_MARGIN_S * sample_rate)
    s0, s1 = max(0, r0 - fade), min(n, r1 + fade)
    return s0, s1, max(0, s0 - margin), min(n, s1 + margin)


def _shift_region(
    signal: torch.Tensor,
    base: int,
    n: int,
    phase_for: Callable[[int, int], PhaseTrack],
    shift_at: Callable[[int, int], npt.NDArray[np.float64]],
    r0: int,
    r1: int,
    sample_rate: int,
    dev: torch.device,
) -> tuple[int, int, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One region [r0, r1) shifted: (s0, s1, shifted samples [s0, s1), crossfade weight).

    ``signal`` holds the input from clip sample ``base`` on (the whole clip, or a stretch
    around the region); ``n`` is the clip's length.
    """
    realign = max(2, round(RAMP_S * sample_rate))
    s0, s1, a0, a1 = region_span(r0, r1, n, sample_rate)
    local = phase_for(a0, a1)
    phase_in = local.phase_cycles  # index i is sample a0 + i
    # Synthesis phase: the input's phase, advanced faster or slower by the shift ratio.
    ratio = np.power(2.0, shift_at(s0, s1) / 1200.0)
    region_in = phase_in[s0 - a0 : s1 - a0]
    d_in = np.diff(region_in, prepend=region_in[0])
    drift = np.cumsum((ratio - 1.0) * d_in)
    # Realign: over the region's last RAMP_S, drop the drift's fractional cycle so the
    # output marks land back on the input's marks and the crossfade joins like with like.
    end_drift = drift[min(r1, s1) - s0 - 1]
    excess = end_drift - np.round(end_drift)
    ramp_start = max(r0, r1 - realign) - s0
    ramp = np.zeros(s1 - s0)
    ramp_len = (r1 - s0) - ramp_start
    ramp[ramp_start : r1 - s0] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp_len))
    ramp[r1 - s0 :] = 1.0
    phase_out = region_in + drift - excess * ramp
    phase_out = np.maximum.accumulate(phase_out)
    shifted = _psola_region(signal, base, n, phase_in, a0, phase_out, s0, s1, dev)
    weight = np.ones(s1 - s0, dtype=np.float32)
    lead = r0 - s0
    if lead > 0:
        weight[:lead] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, lead + 2)[1:-1])
    trail = s1 - r1
    if trail > 0:
        weight[s1 - s0 - trail :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, trail + 2)[1:-1])
    return s0, s1, shifted, weight


def _psola_region(
    signal: torch.Tensor,
    base: int,
    n: int,
    phase_in: npt.NDArray[np.float64],
    phase_in_start: int,
    phase_out: npt.NDArray[np.float64],
    s0: int,
    s1: int,
    dev: torch.device,
) -> npt.NDArray[np.float32]:
    """Overlap-add of two-period Hann grains for samples [s0, s1).

    ``phase_in`` covers the samples from ``phase_in_start`` on (a little beyond the region, so
    every synthesis mark has an analysis neighbour); ``phase_out`` covers [s0, s1).
    ``signal[:, i]`` is clip sample ``base + i`` of a clip of ``n`` samples.
    """
    marks_in = phase_in_start + _crossings(phase_in, 0, len(phase_in))
    marks_out = s0 + _crossings(phase_out, 0, s1 - s0)
    channels = signal.shape[0]
    if len(marks_in) < 3 or len(marks_out) < 1:
        return signal[:, s0 - base : s1 - base].cpu().numpy()
    # Grain half-length: the local input period around each analysis mark.
    period = np.empty_like(marks_in)
    period[1:-1] = (marks_in[2:] - marks_in[:-2]) / 2.0
    period[0], period[-1] = marks_in[1] - marks_in[0], marks_in[-1] - marks_in[-2]
    typical = float(np.median(period))
    period = np.clip(period, 0.5 * typical, 2.0 * typical)
    # Each synthesis mark takes the analysis mark nearest to it in time: duration is exact.
    pos = np.searchsorted(marks_in, marks_out)
    pos = np.clip(pos, 1, len(marks_in) - 1)
    left_closer = (marks_out - marks_in[pos - 1]) < (marks_in[pos] - marks_out)
    pick = np.where(left_closer, pos - 1, pos)
    acc = torch.zeros(channels, s1 - s0, dtype=torch.float32, device=dev)
    norm = torch.zeros(s1 - s0, dtype=torch.float32, device=dev)
    # Grains in batches, each as wide as its own longest period: bounded memory on long takes
    # with low notes, and no padding of a flute's short grains to a bass note's length.
    for b0 in range(0, len(marks_out), _GRAIN_BATCH):
        sel = slice(b0, b0 + _GRAIN_BATCH)
        grain_half = period[pick[sel]]
        half = int(np.ceil(grain_half.max())) + 1
        taps = torch.arange(2 * half + 1, device=dev)
        s_mark = torch.from_numpy(marks_out[sel]).to(dev)
        a_mark = torch.from_numpy(marks_in[pick[sel]]).to(dev)
        # Output samples [start_out, start_out + taps) read the input from base_in on: the
        # fractional part is the same for every tap of a grain, so one gather of taps + 3
        # samples per grain feeds all four interpolation taps.
        start_out = torch.floor(s_mark) - half
        base_in = a_mark - s_mark + start_out
        first_in = torch.floor(base_in)
        frac = (base_in - first_in).to(torch.float32)[:, None]
        span = torch.arange(2 * half + 4, device=dev)
        read = (first_in.long()[:, None] - 1 + span[None, :]).clamp(0, n - 1) - base
        if int(read.min()) < 0 or int(read.max()) >= signal.shape[-1]:
            raise RuntimeError("PSOLA grains reach outside the samples read for the region")
        block = signal[:, read]  # [channels, grains, taps + 3]
        w0, w1, w2, w3 = _catmull_rom_weights(frac)
        width = 2 * half + 1
        grains = (
            w0 * block[..., 0:width]
            + w1 * block[..., 1 : width + 1]
            + w2 * block[..., 2 : width + 2]
            + w3 * block[..., 3 : width + 3]
        )
        out_pos = start_out.long()[:, None] + taps[None, :]
        rel = (start_out - s_mark)[:, None] + taps[None, :]  # samples from the grain centre
        z = (rel / torch.from_numpy(grain_half).to(dev)[:, None]).to(torch.float32)
        window = torch.where(z.abs() < 1.0, 0.5 + 0.5 * torch.cos(torch.pi * z), 0.0)
        window = window * ((out_pos >= s0) & (out_pos < s1))
        target = (out_pos - s0).clamp(0, s1 - s0 - 1).reshape(-1)
        acc.index_add_(1, target, (grains * window[None]).reshape(channels, -1))
        norm.index_add_(0, target, window.reshape(-1))
    original = signal[:, s0 - base : s1 - base]
    shifted = acc / norm.clamp_min(1e-3)
    # Where no grain reached (only possible at the region's very edges), keep the input.
    shifted = torch.where(norm[None, :] > 1e-3, shifted, original)
    return shifted.cpu().numpy()


# ----------------------------------------------------------------------------------------------
# The shifter, streamed: region by region from a source, in clip order, to a sink

MAX_REGION_S = 10.0  # s: longer shifted regions are cut (memory stays flat in the clip's length)
GRAIN_READ_S = 0.1  # s: input read beyond a region's phase span for grains (longest: ~0.04 s)


def shifted_regions(
    shift_cents: npt.NDArray[np.float64], hop_s: float, sample_rate: int, n: int
) -> list[tuple[int, int]]:
    """The sample regions :func:`shift_pitch` shifts, found without a per-sample curve.

    A sample moves where the linear interpolation of the frame curve exceeds
    ``NO_SHIFT_CENTS``; only samples between a moving frame and its neighbours can, so each
    run of moving frames is interpolated alone (the same ``np.interp`` values).
    """
    curve = np.asarray(shift_cents, dtype=np.float64)
    frame_at = np.arange(len(curve)) * hop_s * sample_rate
    regions: list[tuple[int, int]] = []
    for f0, f1 in _regions(np.abs(curve) > NO_SHIFT_CENTS):
        lo = 0 if f0 == 0 else int(np.floor(frame_at[f0 - 1]))
        hi = n if f1 >= len(curve) else min(n, int(np.ceil(frame_at[f1])) + 1)
        if hi <= lo:
            continue
        values = np.interp(np.arange(lo, hi, dtype=np.float64), frame_at, curve)
        regions += [(lo + a, lo + b) for a, b in _regions(np.abs(values) > NO_SHIFT_CENTS)]
    return regions


def _cut_long(
    regions: list[tuple[int, int]],
    f0_hz: npt.NDArray[np.float64],
    hop_s: float,
    sample_rate: int,
    max_samples: int,
) -> list[tuple[int, int]]:
    """Cut regions longer than ``max_samples``, preferably where the pitch is unvoiced.

    Each piece ends like any region (its marks realigned onto the input's, then a crossfade),
    and the next starts on the input's marks, so both sides join like with like; a cut inside
    a breath or a note change hides the realignment's brief pitch bend.
    """
    out: list[tuple[int, int]] = []
    hop = hop_s * sample_rate
    for r0, r1 in regions:
        while r1 - r0 > max_samples:
            lo_f = int(np.ceil((r0 + max_samples // 2) / hop))
            hi_f = int((r0 + max_samples) / hop)
            window = np.asarray(f0_hz[lo_f:hi_f], dtype=np.float64)
            cents = 1200.0 * np.log2(np.where(window > 0, window, np.nan))
            unvoiced = np.flatnonzero(~np.isfinite(cents))
            if len(unvoiced):
                pick = int(unvoiced[len(unvoiced) // 2])
            elif len(window) > 1:
                pick = int(np.argmax(np.abs(np.diff(cents)))) + 1  # the biggest pitch step
            else:
                pick = 0
            cut = min(max(r0 + 1, round((lo_f + pick) * hop)), r0 + max_samples)
            out.append((r0, cut))
            r0 = cut
        out.append((r0, r1))
    return out


def shift_source(
    source: AudioSource,
    f0_hz: npt.NDArray[np.float64],
    shift_cents: npt.NDArray[np.float64],
    hop_s: float,
    *,
    write: Callable[[npt.NDArray[np.float32]], None],
    copy: Callable[[int, int], None],
    device: str | torch.device | None = None,
    max_region_s: float = MAX_REGION_S,
    progress: Callable[[float], None] | None = None,
) -> None:
    """:func:`shift_pitch` of a whole clip, streamed: the output is handed on in clip order.

    Untouched spans are announced with ``copy(start, stop)`` (the sink reads them from the
    source itself) the moment the previous region is done, and each shifted region follows
    with ``write(samples)``, so an encoder can work on the start while later regions are
    still being shifted. Only one region and its context are in memory. The output is
    bit for bit :func:`shift_pitch`'s when no region is longer than ``max_region_s``; longer
    ones are cut (see :func:`_cut_long`), which moves no note by a different interval.
    """
    from core.media.audio import to_mono

    sample_rate = source.sample_rate
    n = source.length
    dev = torch.device(device) if device is not None else torch.device("cpu")
    regions = shifted_regions(shift_cents, hop_s, sample_rate, n)
    regions = _cut_long(regions, f0_hz, hop_s, sample_rate, round(max_region_s * sample_rate))
    frame_at = np.arange(len(shift_cents)) * hop_s * sample_rate
    curve = np.asarray(shift_cents, dtype=np.float64)

    def shift_at(a: int, b: int) -> npt.NDArray[np.float64]:
        return np.interp(np.arange(a, b, dtype=np.float64), frame_at, curve)

    grain_read = round(GRAIN_READ_S * sample_rate)
    done = 0  # samples handed on
    pending: tuple[int, npt.NDArray[np.float32]] | None = None  # output not yet handed on
    with _single_thread_on_cpu(dev):
        for i, (r0, r1) in enumerate(regions):
            s0, s1, a0, a1 = region_span(r0, r1, n, sample_rate)
            if pending is not None and pending[0] + pending[1].shape[1] <= s0:
                write(pending[1])
                done = pending[0] + pending[1].shape[1]
                pending = None
            if pending is None and done < s0:
                copy(done, s0)
                done = s0
            base = max(0, a0 - grain_read)
            local = source.read(base, min(n, a1 + grain_read))
            mono = to_mono(local)
            single = local.shape[0] > 1 and all(np.array_equal(local[0], c) for c in local[1:])
            signal = torch.from_numpy(local[:1] if single else local).to(dev)

            def phase_for(
                start: int, stop: int, mono: npt.NDArray[np.float32] = mono, base: int = base
            ) -> PhaseTrack:
                return track_phase(mono, sample_rate, f0_hz, hop_s, start=start, stop=stop,
                                   offset=base)  # fmt: skip

            s0, s1, shifted, weight = _shift_region(
                signal, base, n, phase_for, shift_at, r0, r1, sample_rate, dev
            )
            if single:
                shifted = np.repeat(shifted, local.shape[0], axis=0)
            # The input under the region, or what an overlapping previous region left there.
            original = local[:, s0 - base : s1 - base]
            if pending is not None:
                p0, held = pending
                overlap = p0 + held.shape[1] - s0
                original = original.copy()
                original[:, :overlap] = held[:, s0 - p0 :]
                write(held[:, : s0 - p0])
            blended = original + weight[None, :] * (shifted - original)
            pending = (s0, blended.astype(np.float32, copy=False))
            done = s0
            if progress is not None:
                progress((i + 1) / len(regions))
    if pending is not None:
        write(pending[1])
        done = pending[0] + pending[1].shape[1]
    if done < n:
        copy(done, n)
