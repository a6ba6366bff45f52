"""From network posteriors to f0 in Hz, in documented stages.

0. **Path** (:class:`PitchPath`): which bin each frame follows -- the argmax, except that a hop
   away from the held note for a few frames (the octave, a fifth, a talker, a tail in a noisy
   room) must out-score the note by ``PATH_JUMP`` to be taken (a fixed-lag Viterbi).
1. **Coarse** (:func:`local_average_midi`): the pitch bin with the highest probability and a
   probability-weighted mean of its neighbours (CREPE's "local average"). The network's bins are
   50 cents wide, so this is good to roughly +-10 cents and, more importantly, picks the right
   octave.
2. **Onsets** (:func:`extend_onsets`): right after a note change the previous note still rings and
   the network often keeps naming it for a few frames while the new note's bin is already
   rising. Once the new note has clearly taken over, those frames are handed to it when the new
   note's probability is at least ``ONSET_RATIO`` of the old one's, at most ``ONSET_MAX_FRAMES``
   back (``ONSET_RATIO_REFINED`` for a tracker with a temporal refiner, whose posterior
   already reads ahead). A frame's result depends only on the ``ONSET_CONTEXT_FRAMES`` frames
   after it, so a chunked run decodes with that much look-ahead and stays identical to a
   one-shot run.
3. **Refine** (:func:`refine_f0_hz`): inside a narrow window around the coarse estimate, a lag
   search on the waveform's normalized cross-correlation (NCCF, as in RAPT/Praat) with parabolic
   interpolation of the peak. Because the window excludes other octaves the classic
   autocorrelation failure modes (octave and sub-octave jumps) cannot happen here, and on a
   steady note the result is accurate to a fraction of a cent. Where the best lag in the window
   is its edge on a slope (no peak inside: in a room, the last note's tail tilts the NCCF), the
   frame keeps its coarse pitch rather than an answer up to ``SEARCH_CENTS`` off. For high
   notes the search looks at the ``k``-th period (``k * T0 >= min_lag_samples``): a longer lag
   divides the interpolation error by ``k``.

Both stages are plain functions on batched torch tensors, so they run on the tracker's device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

REFINE_SAMPLE_RATE = 16000  # Hz, rate of the waveform the lag search reads
# s, correlation window: 600 samples at 16 kHz, just over two periods of the lowest note we
# track. In a room with noise the lag search's error falls with the window (bench.rooms' 10 dB
# steady median against the room's truth: 30 ms 1.21 c, 37.5 ms 1.13, 50 ms 1.04) while dry
# notes stay sharp (0.22, 0.18, 0.21 c); 37.5 ms is the longest whose segment (window plus the
# longest lag) still fits a 1024-point FFT: 50 ms would take 2048 and half again the time.
REFINE_WINDOW_S = 0.0375
MIN_LAG_S = 0.006  # s, shortest lag searched (high notes use a multiple of their period)
# A take below the harmonicity gate (REFINE_BELOW_HARMONICITY_DB: noise, echo) is searched at
# lags of at least 12 ms (two periods of a 165 Hz note, not one): noise moves the NCCF's peak by
# about as many samples whatever the lag, so a longer lag divides its error in cents. On
# bench.gate's unseen rooms at 10 dB the steady median against the room's truth falls 1.44 ->
# 1.28 c (bench.rooms: 1.08 -> 0.91). A 50 ms window as well went further (1.17; bench.rooms
# 0.85) but cost 2048-point FFTs and followed the pitch inside a note less closely: the violin
# and the noisy takes of bench.rooms' shifter section came out 0.1-0.2 c further from their
# targets after correction (10 dB median 0.75 -> 0.92 c). Clean takes keep 6 ms: their error
# is a fifth of a cent already.
NOISY_MIN_LAG_S = 0.012
SEARCH_CENTS = 60.0  # cents, half-width of the refinement window around the coarse pitch
LOWEST_F0_HZ = 55.0  # Hz, below this a frame keeps its coarse pitch
# Refined up to a third of the rate (5.3 kHz at 16 kHz, past C8 and whistling's top): a period
# of 3-4 samples is still found, because the search reads the k-th period (lag >= MIN_LAG_S)
# and interpolates the peak; above that a frame keeps its coarse pitch.
HIGHEST_F0_FRACTION = 3.0
ONSET_RATIO = 0.1  # new note's probability / old note's at which a frame joins the new note
# With a temporal refiner (refiner.pt) a frame's posterior already reads its neighbours, the
# next note's included: a new note's share just before it starts is the refiner's look-ahead,
# not a ringing tail, and handing frames over at 0.1 of the old note named the next note of the
# child's sung take up to 90 ms before she sang it. There a frame joins the new note only where
# the new note is at least as probable.
ONSET_RATIO_REFINED = 1.0
# The "auto" model (models.checkpoint.load_tracker("auto")): refiner.pt's temporal refiner reads
# a take only when the take's median harmonicity (:func:`harmonicity_db`) is below this. On
# takes the bench never measures (`python -m bench.gate`: unseen FluidR3 phrases in unseen
# random rooms with the training noises, dry to 0 dB SNR) the refiner gets more steady frames
# right below 14 dB and about as many above, where its 0.41 s of context only smooths a
# learner's short notes (bench.score). Real phone takes sit at 14-15 dB (the child's sung
# take, the flute take), synthesized learners' takes at 18-30: 12 dB leaves them a margin.
REFINE_BELOW_HARMONICITY_DB = 12.0
MIN_HARMONIC_FRAMES = 10  # a take with fewer voiced frames counts as clean (no refiner)
# The gate reads the take's first 500 voiced frames (5 s of notes; the whole take if it has
# fewer), so the chosen pass can start before the take is decoded to its end.
GATE_VOICED_FRAMES = 500
ONSET_MAX_FRAMES = 10  # 100 ms: how long an old note may ring over a new one
ONSET_HOLD_FRAMES = 3  # the new note must hold this long to count as a note change
PATH_JUMP = 10.0  # log-probability a note change costs on the pitch path (PitchPath)
PATH_FLOOR = 1e-3  # probability floor of a bin on the path: one frame's veto is bounded
PATH_LAG_FRAMES = 25  # 250 ms: how far the path looks ahead before it settles a frame
ONSET_CONTEXT_FRAMES = ONSET_MAX_FRAMES + ONSET_HOLD_FRAMES
# Frames after a chunk a chunked run must decode for its last frame to be final.
CONTEXT_FRAMES = ONSET_CONTEXT_FRAMES + PATH_LAG_FRAMES


@dataclass(frozen=True)
class LagSearch:
    """What :func:`refine_f0_hz` reads of the waveform: its correlation window and shortest lag."""

    window_s: float = REFINE_WINDOW_S
    min_lag_s: float = MIN_LAG_S


CLEAN_SEARCH = LagSearch()
NOISY_SEARCH = LagSearch(REFINE_WINDOW_S, NOISY_MIN_LAG_S)


class PitchPath:
    """The pitch path: a fixed-lag Viterbi over the network's pitch bins, fed chunk by chunk.

    Why: in a room with noise the network's best bin sometimes hops for a few frames to the
    octave, a fifth or the last note's ringing tail while the note itself still holds a good
    share of the posterior; the plain argmax reports those hops as pitch. On the path, staying
    on a bin (or moving by one 50-cent bin: vibrato, a bend, a glide) is free, and any other
    move costs ``jump`` (log-probability), so a hop must out-score the held note by that much
    over its frames to be taken. A real note change does at once, since the new note's bins
    soon dominate; ``extend_onsets`` then hands the ringing frames before it to the new note.

    Each frame is settled from the frames up to ``lag`` after it (the backtrack from the best
    state there), and the forward scores carry over from one chunk to the next, so a chunked
    run gives the same path as a one-shot run when every chunk is fed ``lag`` frames of
    look-ahead (plus what the caller needs after the path: ``CONTEXT_FRAMES``).
    """

    def __init__(
        self, *, jump: float = PATH_JUMP, floor: float = PATH_FLOOR, lag: int = PATH_LAG_FRAMES
    ) -> None:
        self.jump, self.floor, self.lag = jump, floor, lag
        self._score: np.ndarray | None = None  # forward score after the last kept frame

    def advance(self, pitch_probs: torch.Tensor, keep: int, *, final: bool) -> torch.Tensor:
        """Path over ``pitch_probs`` ``[n, n_bins]`` (the frames after those kept so far).

        Returns the bins of the first ``n - lag`` frames (all ``n`` when ``final``: the clip
        ends there); the forward scores after the first ``keep`` frames are kept for the next
        call, whose rows must start right after them.
        """
        n, n_bins = int(pitch_probs.shape[0]), int(pitch_probs.shape[1])
        settled = n if final else max(0, n - self.lag)
        if n == 0:
            return torch.zeros(0, dtype=torch.int64, device=pitch_probs.device)
        emit = torch.log(pitch_probs.double().clamp_min(0.0) + self.floor).cpu().numpy()
        # Rows padded with -inf either side, so a bin's two neighbours are shifted views. Each
        # row is normalised to a best of exactly 0, so a leap from the best bin scores -jump:
        # five vector operations a frame and no back-pointers (the walk back recomputes the
        # few it follows from the stored rows), which keeps the path at ~25 ms a minute.
        scores = np.full((n, n_bins + 2), -np.inf)
        start = 0
        if self._score is None:
            np.subtract(emit[0], emit[0].max(), out=scores[0, 1:-1])
            prev = scores[0]
            start = 1
        else:
            prev = np.pad(self._score, 1, constant_values=-np.inf)
        near = np.empty(n_bins)
        for t in range(start, n):
            np.maximum(prev[:-2], prev[2:], out=near)
            np.maximum(near, prev[1:-1], out=near)
            np.maximum(near, -self.jump, out=near)
            row = scores[t, 1:-1]
            np.add(near, emit[t], out=row)
            row -= row.max()  # only differences matter; keeps long takes in range
            prev = scores[t]
        if 0 < keep <= n:
            self._score = scores[keep - 1, 1:-1].copy()
        # Settle frame t from the best state at min(t + lag, n - 1), walking back. A state's
        # predecessor is the one the forward step took: the leap from the row's best bin if it
        # scored strictly higher, else the best of bin - 1, bin, bin + 1 (first on a tie).
        frames = np.arange(settled)
        frame = np.minimum(frames + self.lag, n - 1)
        state = scores[frame, 1:-1].argmax(axis=1)
        best = scores[:, 1:-1].argmax(axis=1)
        for _ in range(self.lag):
            walk = frame > frames
            if not walk.any():
                break
            f, s = frame[walk] - 1, state[walk]
            around = np.stack([scores[f, s], scores[f, s + 1], scores[f, s + 2]])
            leap = -self.jump > around.max(axis=0)
            state[walk] = np.where(leap, best[f], s + around.argmax(axis=0) - 1)
            frame = np.where(walk, frame - 1, frame)
        return torch.from_numpy(state).to(pitch_probs.device)


def extend_onsets(
    pitch_probs: torch.Tensor,
    *,
    ratio: float = ONSET_RATIO,
    max_frames: int = ONSET_MAX_FRAMES,
    hold_frames: int = ONSET_HOLD_FRAMES,
    tolerance_bins: int = 1,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[n_frames, n_bins]`` probabilities -> peak bin per frame ``[n_frames]`` (int64).

    The argmax (or the ``start`` path, e.g. :class:`PitchPath`'s), except that the frames just
    before a note change (peak moves by more than ``tolerance_bins`` and stays on the new bin
    for ``hold_frames``) go to the new note while its probability near its bin is at least
    ``ratio`` times the old note's, walking back at most ``max_frames``. Sequential over note
    changes, not frames: cheap even for long takes.
    """
    peak = pitch_probs.argmax(dim=-1) if start is None else start.to(pitch_probs.device)
    n = int(peak.shape[0])
    if n < 2:
        return peak
    # Probability "near" a bin: max over +-tolerance_bins, so a bend by one bin is the same note.
    near = torch.nn.functional.max_pool1d(
        pitch_probs.float()[None], 2 * tolerance_bins + 1, stride=1, padding=tolerance_bins
    )[0]
    path = peak.cpu().tolist()
    near_cpu = near.cpu()
    jumps = (peak[1:] - peak[:-1]).abs() > tolerance_bins
    for s in (torch.nonzero(jumps).flatten() + 1).tolist():
        old, new = path[s - 1], path[s]
        if abs(old - new) <= tolerance_bins or s + hold_frames > n:
            continue
        if any(abs(b - new) > tolerance_bins for b in path[s : s + hold_frames]):
            continue
        t = s - 1
        while (
            t >= 0
            and s - t <= max_frames
            and abs(path[t] - old) <= tolerance_bins
            and float(near_cpu[t, new]) >= ratio * float(near_cpu[t, old])
        ):
            path[t] = new
            t -= 1
    return torch.tensor(path, dtype=torch.int64, device=pitch_probs.device)


def local_average_midi(
    pitch_probs: torch.Tensor,
    *,
    midi0: float,
    bins_per_semitone: float,
    radius: int = 2,
    peak_bins: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[..., n_bins]`` probabilities -> fractional MIDI ``[...]`` (float64).

    Weighted mean of the ``2 * radius + 1`` bins around the argmax (or around ``peak_bins``,
    e.g. from :func:`extend_onsets`); the rest of the posterior (e.g. a weaker octave candidate)
    cannot drag the estimate between octaves.
    """
    n_bins = pitch_probs.shape[-1]
    if peak_bins is None:
        peak = pitch_probs.argmax(dim=-1, keepdim=True)
    else:
        peak = peak_bins.to(pitch_probs.device)[..., None]
    offsets = torch.arange(-radius, radius + 1, device=pitch_probs.device)
    idx = (peak + offsets).clamp(0, n_bins - 1)
    weights = pitch_probs.gather(-1, idx).double()
    weights = weights * ((peak + offsets >= 0) & (peak + offsets < n_bins))
    bins = (weights * idx.double()).sum(-1) / weights.sum(-1).clamp_min(1e-12)
    return midi0 + bins / bins_per_semitone


def midi_to_hz(midi: torch.Tensor) -> torch.Tensor:
    return 440.0 * torch.pow(2.0, (midi - 69.0) / 12.0)


def refine_f0_hz(
    audio: torch.Tensor,
    centers: torch.Tensor,
    coarse_f0_hz: torch.Tensor,
    *,
    sample_rate: int = REFINE_SAMPLE_RATE,
    window_s: float = REFINE_WINDOW_S,
    min_lag_s: float = MIN_LAG_S,
    search_cents: float = SEARCH_CENTS,
    keep_coarse_at_edge: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-cent f0 near ``coarse_f0_hz`` for frames centred on ``centers`` (sample indices).

    Arguments
        audio (torch.Tensor [samples]): mono waveform at ``sample_rate``.
        centers (torch.Tensor [n], int64): frame centres in samples.
        coarse_f0_hz (torch.Tensor [n]): the coarse estimate; NaN frames stay NaN.
    Returns
        f0_hz (torch.Tensor [n], float64), periodicity (torch.Tensor [n], float32 in [0, 1]):
        the NCCF peak height, a voicing cue (1 for a perfectly periodic frame).

    The sizes of every intermediate depend only on ``sample_rate`` and the number of frames, so
    a frame gets bit-identical numbers whichever chunk of a recording it is analysed in.
    """
    device = audio.device
    n = coarse_f0_hz.shape[0]
    f0_out = coarse_f0_hz.double().clone()
    periodicity = torch.zeros(n, dtype=torch.float32, device=device)
    if n == 0:
        return f0_out, periodicity
    window = round(window_s * sample_rate)
    min_lag = round(min_lag_s * sample_rate)
    ratio = 2.0 ** (search_cents / 1200.0) - 1.0
    max_period = sample_rate / LOWEST_F0_HZ
    # The k-th period, k = ceil(min_lag / T0), is T0 <= max_period when T0 >= min_lag and
    # under min_lag + T0 < 2 * min_lag when not: the longest lag any frame can ask for.
    max_lag = math.ceil(max(max_period, 2.0 * min_lag) * (1.0 + ratio)) + 2
    seg_len = window + max_lag + 1

    f0 = coarse_f0_hz.double()
    valid = torch.isfinite(f0) & (f0 >= LOWEST_F0_HZ) & (f0 < sample_rate / HIGHEST_F0_FRACTION)
    safe_f0 = torch.where(valid, f0, torch.full_like(f0, 440.0))
    period = sample_rate / safe_f0
    k = torch.clamp(torch.ceil(min_lag / period), min=1.0)
    lag = k * period
    half = torch.minimum(lag * ratio, 0.45 * period)

    # Gather one segment per frame; the analysed span [0, window + lag) is centred on the frame.
    start = centers.to(device) - ((window + lag.round().long()) // 2)
    padded = torch.nn.functional.pad(audio.double(), (seg_len, seg_len))
    idx = (start + seg_len)[:, None] + torch.arange(seg_len, device=device)[None, :]
    seg = padded[idx.clamp(0, padded.shape[0] - 1)]
    nccf = lagged_nccf(seg, window, max_lag + 2)

    # A coarse pitch off by ``search_cents`` moves the k-th period by k times as many samples;
    # past ``k_direct`` periods that could reach the next period's peak (high notes, k up to
    # 30), so those frames first find the period on a shorter lag, then the k-th peak there.
    k_direct = max(1.0, math.floor(0.4 / ratio))
    k1 = torch.clamp(k, max=k_direct)
    tau1, peak1, inner1 = _nccf_peak(
        nccf, k1 * period, torch.minimum(k1 * period * ratio, half), max_lag
    )
    period2 = tau1 / k1
    tau2, peak2, inner2 = _nccf_peak(nccf, k * period2, 0.3 * period2, max_lag)
    far = k > k1
    tau = torch.where(far, tau2, tau1)
    peak = torch.where(far, peak2, peak1)
    refined = torch.where(far, k, k1) * sample_rate / tau
    use = valid
    if keep_coarse_at_edge:
        use = valid & inner1 & (inner2 | ~far)

    f0_out = torch.where(use, refined, f0_out)
    periodicity = torch.where(valid, peak, torch.zeros_like(peak)).float()
    return f0_out, periodicity


def harmonicity_db(periodicity: torch.Tensor, voiced: torch.Tensor) -> float:
    """Median harmonics-to-noise ratio (dB) of the ``voiced`` frames: ``10 log10(r / (1 - r))``
    of each frame's NCCF peak ``r`` (:func:`refine_f0_hz`), Boersma's harmonicity (Praat).

    Why: the periodic part of a frame against the rest is what noise and a room's echo take
    away from a note, whatever the instrument, so one number tells a take from a quiet room
    from one in a noisy, echoing one. ``inf`` when fewer than ``MIN_HARMONIC_FRAMES`` are voiced.
    """
    r = periodicity[voiced].double().clamp(1e-4, 1.0 - 1e-4)
    if int(r.numel()) < MIN_HARMONIC_FRAMES:
        return math.inf
    return float(torch.median(10.0 * torch.log10(r / (1.0 - r))))


def lagged_nccf(seg: torch.Tensor, window: int, n_lags: int) -> torch.Tensor:
    """Normalised cross-correlation of each row's first ``window`` samples with the row
    ``tau`` samples later, for ``tau`` in [0, n_lags): ``[rows, n_lags]``.

    One FFT per row. A circular correlation of length ``n_fft >= seg_len`` is the linear one
    for every lag read (the head's sample ``i < window`` meets ``i + tau < seg_len``, nothing
    wraps), so the FFT need not cover ``window + seg_len``: half the size, the same numbers.
    """
    seg_len = seg.shape[1]
    if window + n_lags - 1 > seg_len:
        raise ValueError("each row must hold window + n_lags - 1 samples")
    n_fft = 1 << math.ceil(math.log2(seg_len))
    head = seg[:, :window]
    # r[tau] = sum_{i < window} seg[i] * seg[i + tau]
    spec = torch.fft.rfft(seg, n_fft) * torch.conj(torch.fft.rfft(head, n_fft))
    corr = torch.fft.irfft(spec, n_fft)[:, :n_lags]
    energy = torch.cumsum(torch.nn.functional.pad(seg * seg, (1, 0)), dim=1)
    taus = torch.arange(n_lags, device=seg.device)
    e_head = energy[:, window : window + 1]
    e_lag = energy[:, taus + window] - energy[:, taus]
    return corr / torch.sqrt(e_head * e_lag).clamp_min(1e-20)


def _nccf_peak(
    nccf: torch.Tensor, centre: torch.Tensor, half: torch.Tensor, max_lag: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best lag inside ``centre +- half`` (per row), refined by a parabola through the peak and
    its neighbours: (lag in samples, float64; peak height clamped to [0, 1]; whether the best
    lag is a local maximum of the NCCF rather than the window's edge on a slope)."""
    taus = torch.arange(nccf.shape[1], device=nccf.device)
    lo = torch.floor(centre - half).clamp(min=1)
    hi = torch.ceil(centre + half).clamp(max=max_lag)
    inside = (taus[None, :] >= lo[:, None]) & (taus[None, :] <= hi[:, None])
    masked = torch.where(inside, nccf, torch.full_like(nccf, -2.0))
    best = masked.argmax(dim=1).clamp(1, max_lag)
    a = nccf.gather(1, (best - 1)[:, None]).squeeze(1)
    b = nccf.gather(1, best[:, None]).squeeze(1)
    c = nccf.gather(1, (best + 1)[:, None]).squeeze(1)
    denom = a - 2.0 * b + c
    shift = torch.where(denom < 0, 0.5 * (a - c) / denom.clamp(max=-1e-12), torch.zeros_like(b))
    shift = shift.clamp(-0.5, 0.5)
    inner = (b >= a) & (b >= c)
    return best.double() + shift, (b - 0.25 * (a - c) * shift).clamp(0.0, 1.0), inner
