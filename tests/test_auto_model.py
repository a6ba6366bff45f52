"""The product's pitch model ("auto"): the per-frame body on clean takes, the temporal refiner
on noisy, echoing ones, told apart by the take's harmonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.analysis.pitch import shipped_weights, track_pass, track_pitch, weights_path
from core.media.spool import ArraySource
from models import decode
from models.checkpoint import load_tracker
from tests.test_refiner import RATE, melody


def noisy(audio: np.ndarray, snr_db: float, seed: int = 3) -> np.ndarray:
    """``audio`` in pink-ish noise at ``snr_db`` against its own RMS: harmonicity far below
    the gate."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(len(audio)))
    pink = np.fft.irfft(spec / np.sqrt(np.maximum(np.arange(len(spec)), 1.0)), len(audio))
    level = np.sqrt(np.mean(audio**2)) / np.sqrt(np.mean(pink**2)) / 10 ** (snr_db / 20)
    return (audio + level * pink).astype(np.float32)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def test_auto_is_the_refiner_weights_gated_and_cached_apart_from_them() -> None:
    auto = load_tracker("auto", "cpu")
    refiner = load_tracker("refiner", "cpu")
    assert auto is load_tracker("auto", "cpu") and auto is not refiner
    assert auto.harmonicity_gate_db == decode.REFINE_BELOW_HARMONICITY_DB
    assert refiner.harmonicity_gate_db is None
    assert auto.refiner is not None
    assert all(torch.equal(v, refiner.state_dict()[k]) for k, v in auto.state_dict().items())
    assert shipped_weights()[0] == "auto" and {"default", "refiner"} <= set(shipped_weights())
    assert weights_path("auto") == weights_path("refiner")


def test_a_clean_take_gets_exactly_the_per_frame_model() -> None:
    audio = melody(4.0)
    auto = track_pitch(audio, RATE, tracker=load_tracker("auto", "cpu"))
    default = track_pitch(audio, RATE, tracker=load_tracker("default", "cpu"))
    refined = track_pitch(audio, RATE, tracker=load_tracker("refiner", "cpu"))
    assert auto.harmonicity_db >= decode.REFINE_BELOW_HARMONICITY_DB and not auto.refined
    assert same(auto.f0_hz, default.f0_hz) and np.array_equal(auto.voiced_prob, default.voiced_prob)
    assert not same(auto.f0_hz, refined.f0_hz), "the models must differ here, or this shows nothing"


def test_a_noisy_take_gets_exactly_the_refiner_with_the_noisy_lag_search() -> None:
    audio = noisy(melody(4.0), 3.0)
    auto = track_pitch(audio, RATE, tracker=load_tracker("auto", "cpu"))
    source = ArraySource(audio[None], RATE)
    refiner = load_tracker("refiner", "cpu")
    refined = track_pass(source, refiner, refine=True, search=decode.NOISY_SEARCH)
    plain_search = track_pass(source, refiner, refine=True)
    default = track_pitch(audio, RATE, tracker=load_tracker("default", "cpu"))
    # The gate reads the body's pass: the per-frame model's own harmonicity.
    assert auto.harmonicity_db == pytest.approx(default.harmonicity_db)
    assert auto.harmonicity_db < decode.REFINE_BELOW_HARMONICITY_DB and auto.refined
    assert same(auto.f0_hz, refined.f0_hz) and np.array_equal(auto.voiced_prob, refined.voiced_prob)
    # The same notes and voicing as the refiner's own pass, read to other fractions of a cent.
    assert np.array_equal(refined.voiced_prob, plain_search.voiced_prob)
    assert not same(refined.f0_hz, plain_search.f0_hz)
    assert not same(auto.f0_hz, default.f0_hz)


def test_the_gated_second_pass_is_chunk_invariant() -> None:
    audio = noisy(melody(7.0), 3.0)
    tracker = load_tracker("auto", "cpu")
    whole = track_pitch(audio, RATE, tracker=tracker, chunk_frames=100_000)
    parts = track_pitch(audio, RATE, tracker=tracker, chunk_frames=173)
    assert whole.refined and parts.refined
    assert np.array_equal(np.isnan(parts.f0_hz), np.isnan(whole.f0_hz))
    np.testing.assert_allclose(parts.f0_hz, whole.f0_hz, rtol=1e-7)


def test_harmonicity_is_the_median_hnr_of_voiced_frames() -> None:
    r = torch.tensor([0.9] * 20 + [0.5] * 5 + [0.99] * 4 + [0.0] * 30)
    voiced = torch.tensor([True] * 29 + [False] * 30)
    assert decode.harmonicity_db(r, voiced) == pytest.approx(10 * math.log10(0.9 / 0.1))
    few = torch.zeros(59, dtype=torch.bool)
    few[: decode.MIN_HARMONIC_FRAMES - 1] = True
    assert decode.harmonicity_db(r, few) == math.inf


def test_a_silent_take_counts_as_clean() -> None:
    track = track_pitch(np.zeros(RATE, np.float32), RATE, tracker=load_tracker("auto", "cpu"))
    assert track.harmonicity_db == math.inf and not track.refined


def test_the_gate_reads_the_first_seconds_of_notes_so_the_chosen_pass_can_stream() -> None:
    """The reading is the first GATE_VOICED_FRAMES voiced frames: a take that turns noisy
    after them keeps the body even when most of it is noisy, one that starts noisy gets the
    refiner throughout."""
    clean = melody(20.0)
    dirty = noisy(clean, 3.0)
    cut = round(6.5 * RATE)
    voiced = int(np.sum(track_pitch(clean[:cut], RATE).voiced_prob >= 0.5))
    assert voiced > decode.GATE_VOICED_FRAMES
    tracker = load_tracker("auto", "cpu")
    turns_noisy = np.concatenate([clean[:cut], dirty[cut:]])
    late = track_pitch(turns_noisy, RATE, tracker=tracker)
    early = track_pitch(np.concatenate([dirty[:cut], clean[cut:]]), RATE, tracker=tracker)
    assert not late.refined and late.harmonicity_db >= decode.REFINE_BELOW_HARMONICITY_DB
    assert early.refined and early.harmonicity_db < decode.REFINE_BELOW_HARMONICITY_DB
    # The whole take's median would have called it noisy (most of its notes are in the
    # noise, far below the gate): the first seconds decided.
    rest = track_pitch(dirty[cut:], RATE, tracker=load_tracker("default", "cpu"))
    assert rest.harmonicity_db < decode.REFINE_BELOW_HARMONICITY_DB - 3
    assert int(np.sum(rest.voiced_prob >= 0.5)) > voiced
    parts = track_pitch(turns_noisy, RATE, tracker=tracker, chunk_frames=97)
    assert not parts.refined
    assert parts.harmonicity_db == pytest.approx(late.harmonicity_db, abs=1e-6)


def test_the_gate_listens_to_the_notes_whatever_threshold_the_caller_reports_at() -> None:
    """threshold=0 reports a pitch on every frame (the benches do): the silence between notes
    must not pull the take's harmonicity under the gate."""
    audio = np.concatenate([np.zeros(4 * RATE, np.float32), melody(8.0)])
    tracker = load_tracker("auto", "cpu")
    usual = track_pitch(audio, RATE, tracker=tracker)
    everything = track_pitch(audio, RATE, tracker=tracker, threshold=0.0)
    assert not usual.refined and not everything.refined
    assert everything.harmonicity_db == usual.harmonicity_db


def test_the_report_tells_a_noisy_recording_from_a_clean_one() -> None:
    from core.pipeline import CorrectOptions, correct_audio

    tracker = load_tracker("auto", "cpu")
    clean = melody(6.0)
    _, quiet = correct_audio(clean[None], RATE, CorrectOptions(), tracker=tracker)
    _, loud = correct_audio(noisy(clean, 3.0)[None], RATE, CorrectOptions(), tracker=tracker)
    assert not quiet.noisy_recording and quiet.harmonicity_db is not None
    assert quiet.harmonicity_db >= decode.REFINE_BELOW_HARMONICITY_DB
    assert "noisy or echoey" not in quiet.to_text("en")
    assert loud.noisy_recording and loud.harmonicity_db is not None
    assert loud.harmonicity_db < decode.REFINE_BELOW_HARMONICITY_DB
    assert "шумная или гулкая" in loud.to_text()


def test_a_noisy_take_still_being_decoded_starts_over_and_matches_the_one_shot_run() -> None:
    """The refined pass starts again at frame 0 while the spool is still being written."""
    from core.analysis.pitch import track_source
    from tests.test_stream import fill_slowly

    take = noisy(melody(12.0), 3.0)
    tracker = load_tracker("auto", "cpu")
    whole = track_pitch(take, RATE, tracker=tracker, chunk_frames=100_000)
    with fill_slowly(np.stack([take, take]), rate=RATE) as spool:
        streamed = track_source(spool, tracker=tracker, chunk_frames=211)
    assert whole.refined and streamed.refined
    assert streamed.harmonicity_db == pytest.approx(whole.harmonicity_db, abs=1e-6)
    assert np.array_equal(np.isnan(streamed.f0_hz), np.isnan(whole.f0_hz))
    np.testing.assert_allclose(streamed.f0_hz, whole.f0_hz, rtol=1e-7)
