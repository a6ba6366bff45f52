"""The shipped tracker end to end on tones of known pitch (real weights, no network)."""

from __future__ import annotations

import csv
import math
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
import torchaudio.functional
from scipy.io import wavfile
from tracking import track_file

from core.analysis.pitch import PitchTrack, _Resampled, track_pitch
from models.checkpoint import WEIGHTS_DIR, load_tracker, read_checkpoint

RATE = 22050


def tone(f0_hz: float, seconds: float, rate: int = RATE) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * rate)) / rate
    out = sum(
        0.6**h * np.sin(2 * np.pi * f0_hz * (h + 1) * t + h)
        for h in range(6)
        if f0_hz * (h + 1) < rate / 2 - 500
    )
    return (0.3 * np.asarray(out)).astype(np.float32)


def melody(seconds: float) -> npt.NDArray[np.float32]:
    """Half-second notes with 100 ms rests, so chunk boundaries cut through notes and gaps."""
    out = []
    midis = [60, 64, 67, 72, 69, 65, 62, 57]
    for i in range(math.ceil(seconds / 0.6)):
        f0 = 440.0 * 2 ** ((midis[i % len(midis)] - 69 + 0.17 * (i % 5)) / 12)
        out += [tone(f0, 0.5), np.zeros(round(0.1 * RATE), np.float32)]
    return np.concatenate(out)[: round(seconds * RATE)]


def test_shipped_checkpoint_is_small_and_self_describing() -> None:
    path = WEIGHTS_DIR / "default.pt"
    assert path.stat().st_size <= 5 * 1024 * 1024
    payload = read_checkpoint(path)
    assert {"format_version", "hparams", "cqt", "state_dict"} <= set(payload)


def test_trackers_are_cached_per_file_and_device() -> None:
    assert load_tracker("default", "cpu") is load_tracker(WEIGHTS_DIR / "default.pt", "cpu")


@pytest.mark.parametrize(
    "f0_hz", [98.0, 261.63 * 2 ** (23 / 1200), 440.0 * 2 ** (-37 / 1200), 1318.5]
)
def test_steady_tones_within_three_cents(f0_hz: float) -> None:
    track = track_pitch(tone(f0_hz, 1.5), RATE, device="cpu")
    middle = track.f0_hz[20:130]
    assert np.isfinite(middle).all(), "a steady tone must be voiced throughout"
    cents = 1200 * np.log2(middle / f0_hz)
    assert np.median(np.abs(cents)) < 3.0
    assert np.abs(cents).max() < 10.0


def test_silence_and_noise_are_unvoiced() -> None:
    silence = track_pitch(np.zeros(RATE, np.float32), RATE, device="cpu")
    assert np.isnan(silence.f0_hz).all()
    noise = np.random.default_rng(3).standard_normal(2 * RATE).astype(np.float32) * 0.1
    track = track_pitch(noise, RATE, device="cpu")
    assert np.mean(np.isnan(track.f0_hz)) > 0.9


def test_frames_times_and_csv(tmp_path: Path) -> None:
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), tone(330.0, 1.0)])
    track = track_pitch(audio, RATE, device="cpu")
    # Frames sit at i * 10 ms for every i with i * 10 ms inside the signal.
    assert len(track) == math.floor((len(audio) - 1) / RATE / 0.01 + 1e-9) + 1 == 150
    assert track.f0_hz.dtype == np.float64 and track.voiced_prob.dtype == np.float32
    np.testing.assert_allclose(track.times_s[:3], [0.0, 0.01, 0.02])
    assert list(track.to_dataframe().columns) == ["time_s", "f0_hz", "voiced_prob"]
    out = tmp_path / "track.csv"
    track.to_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(track)
    assert rows[10]["f0_hz"] == ""  # silence
    assert float(rows[100]["f0_hz"]) == pytest.approx(330.0, rel=0.003)


def test_chunked_equals_one_shot_and_is_deterministic() -> None:
    audio = melody(7.0)
    whole = track_pitch(audio, RATE, device="cpu")
    chunked = track_pitch(audio, RATE, device="cpu", chunk_frames=137)
    again = track_pitch(audio, RATE, device="cpu")
    np.testing.assert_array_equal(np.isnan(chunked.f0_hz), np.isnan(whole.f0_hz))
    np.testing.assert_allclose(chunked.f0_hz, whole.f0_hz, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(chunked.voiced_prob, whole.voiced_prob, atol=1e-4)
    np.testing.assert_array_equal(again.f0_hz, whole.f0_hz)


def test_long_input_agrees_with_its_beginning() -> None:
    long_audio = melody(40.0)
    short = track_pitch(long_audio[: 6 * RATE], RATE, device="cpu")
    long = track_pitch(long_audio, RATE, device="cpu")
    keep = int(5.5 / 0.01)  # the short clip's last 0.5 s sees its own end
    assert np.mean(np.isnan(long.f0_hz[:keep]) == np.isnan(short.f0_hz[:keep])) > 0.99
    both = np.isfinite(long.f0_hz[:keep]) & np.isfinite(short.f0_hz[:keep])
    cents = 1200 * np.log2(long.f0_hz[:keep][both] / short.f0_hz[:keep][both])
    assert np.abs(cents).max() < 0.01


def test_a_held_stretch_serves_the_same_samples_a_resampler_call_gives() -> None:
    # track_source resamples a chunk's span once and slices it for the three readers.
    signal = torch.from_numpy(melody(3.0))
    whole = torchaudio.functional.resample(signal, RATE, 16000)

    def read(start: int, stop: int) -> torch.Tensor:
        out = torch.zeros(stop - start)
        lo, hi = max(0, start), min(stop, signal.shape[0])
        if hi > lo:
            out[lo - start : hi - start] = signal[lo:hi]
        return out

    held = _Resampled(read, RATE, 16000, signal.shape[0])
    plain = _Resampled(read, RATE, 16000, signal.shape[0])
    held.hold(-300, 30000)
    # Float32 rounding may differ with a stretch's length (the convolution's blocking).
    same = {"atol": 5e-7, "rtol": 0.0}
    for start, stop in [(-300, 30000), (0, 16000), (12345, 23456), (29000, 30000), (-5, 7)]:
        assert held(start, stop).shape == (stop - start,)
        torch.testing.assert_close(held(start, stop), plain(start, stop), **same)
        lo, hi = max(0, start), min(stop, whole.shape[0])
        torch.testing.assert_close(held(lo, hi), whole[lo:hi], **same)
    assert torch.equal(held(-300, -1), torch.zeros(299))
    # Outside the held stretch it still computes.
    torch.testing.assert_close(held(30000, 40000), whole[30000:40000], **same)


def test_empty_input_gives_an_empty_track() -> None:
    track = track_pitch(np.zeros(0, np.float32), RATE, device="cpu")
    assert isinstance(track, PitchTrack) and len(track) == 0


def test_track_file_reads_an_m4a(tmp_path: Path) -> None:
    import imageio_ffmpeg

    wav = tmp_path / "tone.wav"
    wavfile.write(wav, 44100, (tone(523.25, 1.0, 44100) * 32767).astype(np.int16))
    path = tmp_path / "tone.m4a"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(wav), "-c:a", "aac", str(path)]
    assert subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
    track = track_file(path, device="cpu")
    assert np.nanmedian(np.abs(1200 * np.log2(track.f0_hz / 523.25))) < 3.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    audio = melody(3.0)
    cpu = track_pitch(audio, RATE, device="cpu")
    gpu = track_pitch(audio, RATE, device="cuda")
    both = np.isfinite(cpu.f0_hz) & np.isfinite(gpu.f0_hz)
    assert np.mean(np.isfinite(cpu.f0_hz) == np.isfinite(gpu.f0_hz)) > 0.98
    assert np.abs(1200 * np.log2(cpu.f0_hz[both] / gpu.f0_hz[both])).max() < 0.5
