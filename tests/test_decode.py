"""Coarse decoding, sub-cent refinement and voicing on signals with known pitch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.analysis import voicing
from models.decode import (
    ONSET_HOLD_FRAMES,
    ONSET_MAX_FRAMES,
    PATH_LAG_FRAMES,
    PitchPath,
    extend_onsets,
    lagged_nccf,
    local_average_midi,
    refine_f0_hz,
)

RATE = 16000


def harmonic_tone(f0_hz: float, seconds: float = 1.0, n_harmonics: int = 8) -> torch.Tensor:
    t = torch.arange(round(seconds * RATE), dtype=torch.float64) / RATE
    tone = torch.zeros_like(t)
    for h in range(1, n_harmonics + 1):
        if f0_hz * h < RATE / 2 - 200:
            tone += 0.7 ** (h - 1) * torch.sin(2 * math.pi * f0_hz * h * t + h)
    return tone.float()


def test_local_average_finds_the_centre_of_a_bump() -> None:
    bins = torch.arange(125, dtype=torch.float64)
    centre = 40.3
    probs = torch.exp(-0.5 * ((bins - centre) / 0.5) ** 2)[None].float()
    midi = local_average_midi(probs, midi0=35.0, bins_per_semitone=2.0)
    assert float(midi[0]) == pytest.approx(35.0 + centre / 2.0, abs=0.05)  # 5 cents


def test_local_average_ignores_a_weaker_octave() -> None:
    bins = torch.arange(125, dtype=torch.float64)
    probs = torch.exp(-0.5 * ((bins - 40.0) / 0.5) ** 2) + 0.6 * torch.exp(
        -0.5 * ((bins - 64.0) / 0.5) ** 2
    )
    midi = local_average_midi(probs[None].float(), midi0=35.0, bins_per_semitone=2.0)
    assert float(midi[0]) == pytest.approx(55.0, abs=0.01)


@pytest.mark.parametrize("f0_hz", [65.41, 110.0, 261.63, 466.16, 987.77, 1760.0])
def test_refinement_is_sub_cent_from_a_coarse_guess_40_cents_off(f0_hz: float) -> None:
    audio = harmonic_tone(f0_hz)
    centers = torch.arange(20, 80) * 160
    coarse = torch.full((60,), f0_hz * 2 ** (40 / 1200))
    f0, periodicity = refine_f0_hz(audio, centers, coarse)
    cents = 1200 * np.log2(f0.numpy() / f0_hz)
    assert np.abs(cents).max() < 1.0
    assert float(periodicity.min()) > 0.9


def test_refinement_never_leaves_the_coarse_octave() -> None:
    # A tone whose 2nd harmonic dominates: plain autocorrelation could jump an octave.
    audio = harmonic_tone(220.0) + 2.0 * harmonic_tone(440.0, n_harmonics=1)
    centers = torch.arange(20, 80) * 160
    f0, _ = refine_f0_hz(audio, centers, torch.full((60,), 220.0 * 2 ** (30 / 1200)))
    assert np.abs(1200 * np.log2(f0.numpy() / 220.0)).max() < 1.0


def test_unknown_frames_stay_nan_and_noise_is_aperiodic() -> None:
    noise = torch.from_numpy(np.random.default_rng(1).standard_normal(RATE).astype("float32"))
    centers = torch.arange(20, 80) * 160
    coarse = torch.full((60,), 300.0)
    coarse[:5] = float("nan")
    f0, periodicity = refine_f0_hz(noise, centers, coarse)
    assert torch.isnan(f0[:5]).all() and torch.isfinite(f0[5:]).all()
    assert float(periodicity[5:].median()) < 0.5


def test_each_frame_is_independent_of_the_others_in_its_batch() -> None:
    audio = harmonic_tone(330.0) * torch.linspace(0.2, 1.0, RATE)
    centers = torch.arange(10, 90) * 160
    coarse = torch.full((80,), 331.0)
    whole, _ = refine_f0_hz(audio, centers, coarse)
    part, _ = refine_f0_hz(audio, centers[30:37], coarse[30:37])
    torch.testing.assert_close(part, whole[30:37], atol=1e-9, rtol=0)


def test_lagged_nccf_is_the_linear_correlation_at_every_lag() -> None:
    # The FFT is only as long as a row: a wrap-around would mix the row's end into its start.
    gen = torch.Generator().manual_seed(3)
    window, n_lags = 480, 405
    seg = torch.randn(4, window + n_lags - 1, generator=gen, dtype=torch.float64)
    seg[:, -50:] *= 1000.0  # the end of each row, which a wrap would fold onto small lags
    got = lagged_nccf(seg, window, n_lags)
    rows = seg.numpy()
    for row, out in zip(rows, got.numpy(), strict=True):
        head = row[:window]
        want = [
            head
            @ row[tau : tau + window]
            / math.sqrt((head @ head) * (row[tau : tau + window] @ row[tau : tau + window]))
            for tau in range(n_lags)
        ]
        np.testing.assert_allclose(out, want, atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="window"):
        lagged_nccf(seg, window, n_lags + 1)


def test_median_smoothing_removes_isolated_flips_and_threshold_copies() -> None:
    prob = torch.tensor([0.9] * 10 + [0.1] + [0.9] * 10 + [0.0] * 10 + [0.8] + [0.0] * 10)
    smooth = voicing.median_smooth(prob)
    assert (smooth[:21] > 0.5).all() and (smooth[21:] < 0.5).all()
    f0 = torch.full((prob.shape[0],), 200.0, dtype=torch.float64)
    out = voicing.apply_threshold(f0, smooth.double())
    assert torch.isnan(out[21:]).all() and not torch.isnan(f0).any()


def _note_change_probs(new_share_before: list[float], *, hold: int = 5) -> torch.Tensor:
    """Frames on bin 10 (old note), then ``hold`` frames on bin 30 (new note). Before the
    change, the new note already shows with the given share of the old note's probability."""
    frames = [*new_share_before, *([None] * hold)]
    probs = torch.full((len(frames), 48), 1e-4)
    for i, share in enumerate(frames):
        if share is None:
            probs[i, 30] = 0.9
        else:
            probs[i, 10] = 0.9
            probs[i, 30] = 0.9 * share
    return probs


def test_an_old_note_still_ringing_gives_way_to_the_new_one() -> None:
    # The last two old-note frames already carry the new note at 20% and 50%: they join it;
    # the earlier frames (new note at 1%) keep the old note.
    probs = _note_change_probs([0.01, 0.01, 0.2, 0.5])
    path = extend_onsets(probs)
    assert path.tolist() == [10, 10, 30, 30, 30, 30, 30, 30, 30]


def test_a_frame_below_the_ratio_stops_the_walk_back() -> None:
    probs = _note_change_probs([0.5, 0.05, 0.5])
    path = extend_onsets(probs)
    # Only the last frame joins: the walk stops at the 5% frame and never reaches the first.
    assert path.tolist() == [10, 10, 30, 30, 30, 30, 30, 30]


def test_a_blip_shorter_than_the_hold_changes_nothing() -> None:
    probs = _note_change_probs([0.5, 0.5], hold=ONSET_HOLD_FRAMES - 1)
    probs = torch.cat([probs, _note_change_probs([0.0])[:1]])  # back on the old note
    assert extend_onsets(probs).tolist() == probs.argmax(dim=-1).tolist()


def test_the_walk_back_is_bounded() -> None:
    probs = _note_change_probs([0.5] * (ONSET_MAX_FRAMES + 4))
    path = extend_onsets(probs).tolist()
    assert path[:4] == [10] * 4
    assert path[4:] == [30] * (len(path) - 4)


def _bump(n_bins: int, centre: int, height: float) -> torch.Tensor:
    bins = torch.arange(n_bins, dtype=torch.float32)
    return height * torch.exp(-0.5 * ((bins - centre) / 0.7) ** 2)


def _held_note_with_hops(frames: int = 120) -> torch.Tensor:
    """A note on bin 40 whose best bin hops for 3 frames to the octave (bin 64) and for 2 to a
    fifth (bin 54) while the note keeps a good share, then a real change to bin 48."""
    probs = torch.stack([_bump(152, 40, 0.8) for _ in range(frames)])
    for f in range(30, 33):
        probs[f] = _bump(152, 40, 0.3) + _bump(152, 64, 0.6)
    for f in range(60, 62):
        probs[f] = _bump(152, 40, 0.2) + _bump(152, 54, 0.5)
    for f in range(90, frames):
        probs[f] = _bump(152, 48, 0.9) + _bump(152, 40, 0.05)
    return probs


def test_the_path_ignores_short_hops_and_follows_a_real_note_change() -> None:
    probs = _held_note_with_hops()
    assert int(probs.argmax(dim=-1)[31]) == 64  # the plain argmax takes the hop
    path = PitchPath().advance(probs, len(probs), final=True).tolist()
    assert path[:90] == [40] * 90
    assert path[90:] == [48] * 30


def test_the_path_follows_a_glide_bin_by_bin() -> None:
    probs = torch.stack([_bump(152, 30 + f // 4, 0.9) for f in range(80)])
    path = PitchPath().advance(probs, len(probs), final=True)
    assert path.tolist() == probs.argmax(dim=-1).tolist()


@pytest.mark.parametrize("chunk", [7, 50, 137])
def test_the_path_fed_in_chunks_equals_one_shot(chunk: int) -> None:
    # Noisy posteriors with hops everywhere: the carried forward scores and the look-ahead
    # must make every chunk boundary invisible.
    rng = np.random.default_rng(3)
    probs = _held_note_with_hops(300)
    probs = (probs + torch.from_numpy(rng.uniform(0, 0.4, probs.shape)).float()).clamp(0, 1)
    whole = PitchPath().advance(probs, len(probs), final=True)
    path, parts, first, n = PitchPath(), [], 0, len(probs)
    while first < n:
        stop = min(n, first + chunk)
        ahead = min(n, stop + PATH_LAG_FRAMES + 5)
        got = path.advance(probs[first:ahead], stop - first, final=ahead == n)
        assert len(got) >= stop - first
        parts.append(got[: stop - first])
        first = stop
    assert torch.cat(parts).tolist() == whole.tolist()
    assert whole.tolist() != probs.argmax(dim=-1).tolist()  # the path did change something


def _textbook_path(probs: torch.Tensor, jump: float, floor: float) -> list[int]:
    """The same Viterbi written plainly: back-pointers kept, a full backtrack from the end."""
    emit = np.log(probs.double().clamp_min(0.0).numpy() + floor)
    n, n_bins = emit.shape
    score = emit[0].copy()
    back = np.zeros((n, n_bins), dtype=np.int64)
    for t in range(1, n):
        new = np.empty(n_bins)
        for b in range(n_bins):
            options = [(score[c], c) for c in (b - 1, b, b + 1) if 0 <= c < n_bins]
            near, came = max(options, key=lambda o: o[0])  # the first of equals wins
            best = int(score.argmax())
            if score[best] - jump > near:
                near, came = score[best] - jump, best
            new[b], back[t, b] = near + emit[t, b], came
        score = new
    path = [int(score.argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def test_the_fast_path_is_the_textbook_viterbi() -> None:
    # PitchPath keeps no back-pointers and leaps from a best of exactly 0; with the look-ahead
    # reaching the end it must choose exactly what the plain algorithm chooses.
    rng = np.random.default_rng(11)
    probs = _held_note_with_hops(200)
    probs = (probs + torch.from_numpy(rng.uniform(0, 0.5, probs.shape)).float()).clamp(0, 1)
    path = PitchPath(lag=len(probs)).advance(probs, len(probs), final=True).tolist()
    assert path == _textbook_path(probs, PitchPath().jump, PitchPath().floor)
    assert path != probs.argmax(dim=-1).tolist()


def test_the_refinement_keeps_the_coarse_pitch_where_the_lag_search_finds_no_peak() -> None:
    # The sound is a semitone above the coarse guess, outside the +-60 cent search: the NCCF
    # only slopes inside the window, and its edge lag would be reported ~60 cents off.
    audio = harmonic_tone(220.0 * 2 ** (100 / 1200))
    centers = torch.arange(20, 80) * 160
    coarse = torch.full((60,), 220.0)
    guarded, _ = refine_f0_hz(audio, centers, coarse)
    unguarded, _ = refine_f0_hz(audio, centers, coarse, keep_coarse_at_edge=False)
    assert guarded.tolist() == coarse.double().tolist()
    assert np.abs(1200 * np.log2(unguarded.numpy() / 220.0)).min() > 50.0


def test_voicing_is_capped_by_how_sure_the_network_is_of_a_pitch() -> None:
    voiced = torch.tensor([0.99, 0.99, 0.8, 0.77, 0.2])
    peak = torch.tensor([0.95, voicing.PITCH_PEAK_FULL, 0.08, 0.3, 0.9])
    capped = voicing.cap_by_pitch_peak(voiced, peak)
    # A clear pitch leaves the voicing head alone; a frame naming no pitch is no note.
    assert capped[0] == voiced[0] and capped[1] == voiced[1] and capped[4] == voiced[4]
    assert capped[2] < 0.2 and capped[3] < 0.65
