"""Move out-of-tune notes to their targets; keep duration, timbre, vibrato and everything else.

Two halves:

1. **Where each note should go** (:func:`plan_notes`, :func:`shift_curve_cents`): each note's
   centre is compared with the nearest allowed note of the key; *natural* mode shifts the whole
   note by one interval, so vibrato and slides inside it survive; *hard* mode pulls every frame
   onto the note (the flat auto-tune effect). Strength scales the interval, a deadband (and a
   3-cent "already in tune" floor) leaves small errors alone.

2. **How to move it** (:func:`shift_pitch`): a time-domain PSOLA shifter in torch.

Why PSOLA, and why these pitch marks. PSOLA cuts two-period grains around pitch marks and lays
them back at the target period; the grains carry the spectral envelope untouched, so formants
(timbre) stay where they were and duration is exact by construction (each output time takes the
grain nearest to it in the input). Phase vocoders and rubberband blur transients and need
phase-locking heuristics; WORLD-style resynthesis replaces the breath noise with a model. PSOLA's
weak spot is its pitch marks: marks that drift against the waveform turn an f0 estimate error
straight into a pitch error. So the marks here are **locked to the fundamental's own phase**: the
signal is heterodyned with the tracker's f0 and low-passed with a one-period moving average,
whose angle is the fundamental's phase offset; marks sit where the refined phase crosses whole
cycles. That makes the marks sub-sample exact and the refined phase also measures each note's
centre to a fraction of a cent, so the residual after correction does not inherit the tracker's
few cents of bias. The same marks drive every channel, so stereo images don't smear. Marks and
phase are O(N) numpy; the grain gather and overlap-add, the bulk of the work, run in torch on
whatever device is given.

Where nothing moves, the input is returned bit for bit: the shifter only writes inside regions
where the shift is non-zero, each ending with the synthesis phase realigned onto the input's
phase and a short crossfade back to the original samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from core.notes import Note
from core.scales import nearest_allowed_midi
from core.units import A4_HZ, hz_to_midi

Mode = Literal["natural", "hard"]

IN_TUNE_CENTS = 3.0  # cents: below this a note is left alone (under the ~5-cent JND, and
# about the tracker's own error, so touching it would add more error than it removes)
HYSTERESIS_CENTS = 15.0  # cents past a midpoint the previous note's target is still kept
PREFER_KEY_CENTS = 15.0  # cents past a midpoint a note of the detected key is still preferred
TAIL_S = 0.06  # s: a note's shift is held this long into the unvoiced frames after it (release)
GAP_BRIDGE_S = 0.12  # s: notes closer than this keep one shifted region (legato, slides)
RAMP_S = 0.03  # s: the shift ramps over this between notes (natural mode's retune speed)
HARD_SPEED_S = 0.01  # s: hard mode's retune speed (time constant of the pull onto the note)
MIN_FUNDAMENTAL_SHARE = 0.05  # fundamental amplitude / RMS below which the phase is not trusted
MIN_MEASURED_SHARE = 0.5  # share of a note's steady frames that must be measurable to move it
FADE_S = 0.01  # s: crossfade from a shifted region back to the untouched input
_NO_SHIFT_CENTS = 1e-3  # cents: smaller shifts count as none (bit-identical output)
_GRAIN_BATCH = 8192  # grains per overlap-add batch


@dataclass(frozen=True)
class NoteTarget:
    """A note, where it was, where it goes and how far it was moved (all at the same A4)."""

    note: Note
    centre_midi: float  # measured centre (refined by the phase-locked marks)
    target_midi: int
    shift_cents: float  # what the shifter applies to the note's centre; 0 when left alone

    @property
    def cents_before(self) -> float:
        return (self.centre_midi - self.target_midi) * 100.0

    @property
    def cents_after(self) -> float:
        """Expected distance after the shift (the report measures it again on the output)."""
        return self.cents_before + self.shift_cents


# ----------------------------------------------------------------------------------------------
# Phase-locked pitch marks


@dataclass(frozen=True)
class PhaseTrack:
    """The fundamental's phase in cycles at every sample, and where it can be trusted."""

    phase_cycles: npt.NDArray[np.float64]  # [samples], non-decreasing
    confident: npt.NDArray[np.bool_]  # [samples]: voiced, so marks follow the waveform
    sample_rate: int


def _frames_to_samples(
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
    mono: npt.NDArray[np.floating], sample_rate: int, f0_hz: npt.NDArray[np.float64], hop_s: float
) -> PhaseTrack:
    """Refine the tracker's f0 into the fundamental's phase at every sample.

    The signal is multiplied by ``exp(-2 pi i * nominal phase)``, which moves the fundamental to
    0 Hz and every harmonic k to (k - 1) f0; two passes of a one-period moving average null those
    harmonics and leave the fundamental's slowly turning phasor, whose angle corrects the
    nominal phase. Where the track is unvoiced the correction is frozen.
    """
    x = np.asarray(mono, dtype=np.float64)
    n = len(x)
    f_frames = np.asarray(f0_hz, dtype=np.float64)
    voiced_frames = np.isfinite(f_frames) & (f_frames > 0)
    median_hz = float(np.median(f_frames[voiced_frames])) if voiced_frames.any() else 220.0
    f_samples = _frames_to_samples(_fill_gaps(f_frames, median_hz), hop_s, sample_rate, n)
    nominal = np.cumsum(f_samples / sample_rate)
    nominal -= nominal[0] if n else 0.0
    period = np.maximum(np.round(sample_rate / f_samples).astype(np.int64), 2)
    phasor = x * np.exp(-2j * np.pi * nominal)
    phasor = _moving_mean(_moving_mean(phasor, period), period)
    angle = np.angle(phasor)
    # The fundamental must carry a real share of the energy: an octave-low track heterodynes
    # onto nothing (a subharmonic), and its "phase" would be noise.
    rms = np.sqrt(np.maximum(_moving_mean(_moving_mean(x * x, period), period).real, 1e-20))
    strength = np.sqrt(2.0) * np.abs(phasor) / rms
    confident = (
        _frames_to_samples(voiced_frames.astype(np.float64), hop_s, sample_rate, n) > 0.999
    ) & (strength > MIN_FUNDAMENTAL_SHARE)
    step = np.diff(angle, prepend=angle[:1] if n else angle)
    step = (step + np.pi) % (2 * np.pi) - np.pi
    step[~confident] = 0.0
    correction = np.cumsum(step) / (2 * np.pi)
    # Start the correction from the first confident sample's absolute angle, so marks sit on
    # the same point of every period (the fundamental's positive peak).
    first = np.flatnonzero(confident)
    offset = angle[first[0]] / (2 * np.pi) - correction[first[0]] if len(first) else 0.0
    phase = nominal + correction + offset
    # Noise can turn the phase back for a moment; marks need it non-decreasing.
    phase = np.maximum.accumulate(phase)
    return PhaseTrack(phase_cycles=phase, confident=confident, sample_rate=sample_rate)


def refined_f0_hz(phase: PhaseTrack, hop_s: float, n_frames: int) -> npt.NDArray[np.float64]:
    """Average fundamental frequency over each frame from the phase (NaN where not confident)."""
    sr = phase.sample_rate
    n = len(phase.phase_cycles)
    centres = np.arange(n_frames) * hop_s * sr
    half = hop_s * sr / 2.0
    lo = np.clip(centres - half, 0, n - 1)
    hi = np.clip(centres + half, 0, n - 1)
    idx = np.arange(n, dtype=np.float64)
    cycles = np.interp(hi, idx, phase.phase_cycles) - np.interp(lo, idx, phase.phase_cycles)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = cycles * sr / (hi - lo)
    sure = phase.confident[np.clip(np.round(centres).astype(np.int64), 0, n - 1)]
    return np.where(sure & (hi > lo) & (f > 0), f, np.nan)


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
    return start + pos - 1 + frac


# ----------------------------------------------------------------------------------------------
# Targets


def plan_notes(
    notes: list[Note],
    f0_ref_hz: npt.NDArray[np.float64],
    *,
    allowed: npt.NDArray[np.bool_],
    preferred: npt.NDArray[np.bool_] | None = None,
    a4_hz: float = A4_HZ,
    mode: Mode = "natural",
    strength: float = 100.0,
    deadband_cents: float = 0.0,
) -> list[NoteTarget]:
    """Choose each note's target and how far to move it.

    The note centre is re-measured on the phase-refined f0 (median over its steady part), so it
    is the waveform's pitch, not the tracker's estimate of it.
    """
    midi_ref = hz_to_midi(f0_ref_hz, a4_hz=a4_hz)
    targets: list[NoteTarget] = []
    previous: int | None = None
    floor_cents = max(deadband_cents, IN_TUNE_CENTS if mode == "natural" else 0.0)
    for note in notes:
        steady = midi_ref[note.steady_start : note.steady_end]
        measured = np.isfinite(steady)
        centre = float(np.median(steady[measured])) if measured.any() else note.midi
        target = nearest_allowed_midi(
            centre,
            allowed,
            previous=previous,
            hysteresis_cents=HYSTERESIS_CENTS,
            preferred=preferred,
            prefer_cents=PREFER_KEY_CENTS if preferred is not None else 0.0,
        )
        off_cents = (centre - target) * 100.0
        # A note whose fundamental cannot be followed (tracker octave slip, noise) stays as it
        # is: moving it would put grains on marks that are not the waveform's periods.
        if abs(off_cents) <= floor_cents or measured.mean() < MIN_MEASURED_SHARE:
            shift = 0.0
        else:
            shift = -off_cents * float(np.clip(strength, 0.0, 100.0)) / 100.0
        targets.append(NoteTarget(note, centre, target, shift))
        previous = target
    return targets


def shift_curve_cents(
    targets: list[NoteTarget],
    n_frames: int,
    hop_s: float,
    *,
    f0_ref_hz: npt.NDArray[np.float64] | None = None,
    mode: Mode = "natural",
    strength: float = 100.0,
    a4_hz: float = A4_HZ,
) -> npt.NDArray[np.float64]:
    """Per-frame shift in cents (0 where nothing moves).

    natural: each moved note gets one constant interval over its whole length (vibrato and
    slides inside it kept), held ``TAIL_S`` into its release, bridged linearly to a neighbour
    less than ``GAP_BRIDGE_S`` away, and ramped over ``RAMP_S``.
    hard: every voiced frame of a moved note is pulled onto the target (``f0_ref_hz`` needed),
    smoothed with the ``HARD_SPEED_S`` retune speed.
    """
    shift = np.zeros(n_frames, dtype=np.float64)
    active = np.zeros(n_frames, dtype=bool)
    tail = round(TAIL_S / hop_s)
    bridge = round(GAP_BRIDGE_S / hop_s)
    moved = [t for t in targets if abs(t.shift_cents) > _NO_SHIFT_CENTS]
    # Frames of notes left alone are never touched by a neighbour's tail or bridge.
    kept = np.zeros(n_frames, dtype=bool)
    for t in targets:
        if abs(t.shift_cents) <= _NO_SHIFT_CENTS:
            kept[t.note.start : t.note.end] = True
    for t in moved:
        a, b = t.note.start, t.note.end
        if mode == "hard" and f0_ref_hz is not None:
            midi = hz_to_midi(f0_ref_hz[a:b], a4_hz=a4_hz)
            frame_shift = (t.target_midi - midi) * 100.0 * np.clip(strength, 0.0, 100.0) / 100.0
            frame_shift = np.where(np.isfinite(frame_shift), frame_shift, t.shift_cents)
            shift[a:b] = frame_shift
        else:
            shift[a:b] = t.shift_cents
        active[a:b] = True
    # Releases and gaps: hold into the tail; bridge short gaps between moved notes.
    ordered = sorted(moved, key=lambda t: t.note.start)
    for i, t in enumerate(ordered):
        end = t.note.end
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if (
            nxt is not None
            and 0 <= nxt.note.start - end <= bridge
            and not kept[end : nxt.note.start].any()
        ):
            a, b = end - 1, nxt.note.start
            if b > a + 1:
                shift[a:b] = np.linspace(shift[a], shift[b], b - a, endpoint=False)
                active[a:b] = True
            continue
        stop = min(n_frames, end + tail)
        if nxt is not None:
            stop = min(stop, nxt.note.start)
        for j in range(end, stop):
            if kept[j]:
                break
            if not active[j]:
                shift[j] = shift[end - 1]
                active[j] = True
    speed_s = HARD_SPEED_S if mode == "hard" else RAMP_S
    width = max(1, round(speed_s / hop_s))
    if width > 1:
        kernel = np.ones(width) / width
        smooth = np.convolve(shift, kernel, mode="same")
        # Smoothing only blurs edges; it must not invent shifts far from any moved note.
        grow = np.convolve(active.astype(np.float64), np.ones(width), mode="same") > 0
        shift = np.where(grow & ~kept, smooth, 0.0)
    shift[np.abs(shift) <= _NO_SHIFT_CENTS] = 0.0
    return shift


# ----------------------------------------------------------------------------------------------
# The shifter


def _regions(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _cubic_gather(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """``x[c, pos]`` at fractional positions with 4-point cubic (Catmull-Rom) interpolation.

    Linear interpolation would dull the top octave a little more for every grain placed between
    samples; the cubic keeps high harmonics of a flute or a voice within a fraction of a dB.
    """
    n = x.shape[-1]
    base = torch.floor(pos)
    t = (pos - base).to(x.dtype)  # fraction in float32; positions themselves need float64
    i = base.long()
    idx = [torch.clamp(i + k, 0, n - 1) for k in (-1, 0, 1, 2)]
    p0, p1, p2, p3 = (x[:, j] for j in idx)
    t2 = t * t
    t3 = t2 * t
    return 0.5 * (
        2 * p1
        + (-p0 + p2) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
        + (-p0 + 3 * p1 - 3 * p2 + p3) * t3
    )


def shift_pitch(
    audio: npt.NDArray[np.float32],
    sample_rate: int,
    phase: PhaseTrack,
    shift_cents: npt.NDArray[np.float64],
    hop_s: float,
    *,
    device: str | torch.device | None = None,
) -> npt.NDArray[np.float32]:
    """Shift pitch by a time-varying number of cents, keeping duration and formants.

    Args:
        audio: ``[channels, samples]`` float32; every channel is shifted with the same marks.
        sample_rate: Hz.
        phase: from :func:`track_phase` on the mono mix of ``audio``.
        shift_cents: ``[frames]`` per-frame shift (frame i at ``i * hop_s``), 0 = untouched.
        hop_s: frame hop of ``shift_cents`` in seconds.
        device: torch device for the overlap-add (default CPU).

    Returns:
        ``[channels, samples]`` float32, the same length; identical to ``audio`` wherever the
        shift (and its crossfade) is zero.
    """
    out = np.array(audio, dtype=np.float32, copy=True)
    n = out.shape[-1]
    if n == 0 or not np.any(np.abs(shift_cents) > _NO_SHIFT_CENTS):
        return out
    shift_s = _frames_to_samples(np.asarray(shift_cents, dtype=np.float64), hop_s, sample_rate, n)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    with _single_thread_on_cpu(dev):
        _shift_regions(out, dev, phase, shift_s, sample_rate)
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
    phase: PhaseTrack,
    shift_s: npt.NDArray[np.float64],
    sample_rate: int,
) -> None:
    """Shift every region where ``shift_s`` (cents per sample) is non-zero, in place."""
    n = out.shape[-1]
    moving = np.abs(shift_s) > _NO_SHIFT_CENTS
    fade = max(1, round(FADE_S * sample_rate))
    realign = max(2, round(RAMP_S * sample_rate))
    signal = torch.from_numpy(out.copy()).to(dev)
    phase_in = phase.phase_cycles
    for r0, r1 in _regions(moving):
        s0, s1 = max(0, r0 - fade), min(n, r1 + fade)
        # Synthesis phase: the input's phase, advanced faster or slower by the shift ratio.
        ratio = np.power(2.0, shift_s[s0:s1] / 1200.0)
        d_in = np.diff(phase_in[s0:s1], prepend=phase_in[s0])
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
        phase_out = phase_in[s0:s1] + drift - excess * ramp
        phase_out = np.maximum.accumulate(phase_out)
        shifted = _psola_region(signal, phase_in, phase_out, s0, s1, sample_rate, dev)
        weight = np.ones(s1 - s0, dtype=np.float32)
        lead = r0 - s0
        if lead > 0:
            weight[:lead] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, lead + 2)[1:-1])
        trail = s1 - r1
        if trail > 0:
            weight[s1 - s0 - trail :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, trail + 2)[1:-1])
        original = out[:, s0:s1]
        out[:, s0:s1] = original + weight[None, :] * (shifted - original)


def _psola_region(
    signal: torch.Tensor,
    phase_in: npt.NDArray[np.float64],
    phase_out: npt.NDArray[np.float64],
    s0: int,
    s1: int,
    sample_rate: int,
    dev: torch.device,
) -> npt.NDArray[np.float32]:
    """Overlap-add of two-period Hann grains for samples [s0, s1)."""
    n = signal.shape[-1]
    # Analysis marks: a little beyond the region so every synthesis mark has a neighbour.
    margin = round(0.05 * sample_rate)
    a0, a1 = max(0, s0 - margin), min(n, s1 + margin)
    marks_in = _crossings(phase_in, a0, a1)
    marks_out = s0 + _crossings(phase_out, 0, s1 - s0)
    channels = signal.shape[0]
    if len(marks_in) < 3 or len(marks_out) < 1:
        return signal[:, s0:s1].cpu().numpy()
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
        offsets = torch.arange(-half, half + 1, device=dev, dtype=torch.float64)
        s_mark = torch.from_numpy(marks_out[sel]).to(dev)
        a_mark = torch.from_numpy(marks_in[pick[sel]]).to(dev)
        # Output sample positions (integers) and the input positions they read (fractional).
        out_pos = torch.floor(s_mark)[:, None] + offsets[None, :]  # [grains, taps]
        rel = out_pos - s_mark[:, None]  # samples from the grain centre
        in_pos = a_mark[:, None] + rel
        z = (rel / torch.from_numpy(grain_half).to(dev)[:, None]).to(torch.float32)
        window = torch.where(z.abs() < 1.0, 0.5 + 0.5 * torch.cos(torch.pi * z), 0.0)
        window = window * ((out_pos >= s0) & (out_pos < s1))
        grains = _cubic_gather(signal, in_pos.reshape(-1)).reshape(channels, *in_pos.shape)
        target = (out_pos - s0).clamp(0, s1 - s0 - 1).long().reshape(-1)
        acc.index_add_(1, target, (grains * window[None]).reshape(channels, -1))
        norm.index_add_(0, target, window.reshape(-1))
    original = signal[:, s0:s1]
    shifted = acc / norm.clamp_min(1e-3)
    # Where no grain reached (only possible at the region's very edges), keep the input.
    shifted = torch.where(norm[None, :] > 1e-3, shifted, original)
    return shifted.cpu().numpy()
