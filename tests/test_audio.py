"""core.media.audio on synthetic signals whose levels and frequencies are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import Silent
from core.media.audio import (
    check_not_silent,
    is_silent,
    peak_window_dbfs,
    resample,
    rms_dbfs,
    to_mono,
)

SR = 16000  # Hz


def sine(f_hz: float, seconds: float, amplitude: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * f_hz * t)).astype(np.float32)


def test_to_mono_means_channels_and_keeps_mono() -> None:
    stereo = np.stack([np.full(10, 0.8, np.float32), np.full(10, -0.2, np.float32)])
    mono = to_mono(stereo)
    assert mono.shape == (10,) and mono.dtype == np.float32
    np.testing.assert_allclose(mono, 0.3, rtol=1e-6)
    flat = np.linspace(-1, 1, 7, dtype=np.float32)
    assert to_mono(flat) is flat
    np.testing.assert_array_equal(to_mono(flat[np.newaxis]), flat)
    with pytest.raises(ValueError, match="channels, samples"):
        to_mono(np.zeros((2, 2, 2), np.float32))


def test_rms_dbfs_of_known_signals() -> None:
    assert rms_dbfs(sine(440, 1.0)) == pytest.approx(-3.01, abs=0.01)
    assert rms_dbfs(sine(440, 1.0, amplitude=0.1)) == pytest.approx(-23.01, abs=0.01)
    assert rms_dbfs(np.zeros(100, np.float32)) == -200.0
    assert rms_dbfs(np.zeros(0, np.float32)) == -200.0


def test_one_short_note_in_a_long_quiet_take_is_not_silence() -> None:
    take = np.zeros(SR * 20, np.float32)
    take[SR * 5 : SR * 5 + SR // 5] = sine(440, 0.2, amplitude=0.05)  # 200 ms at -29 dBFS
    assert rms_dbfs(take) < -45  # whole-clip RMS would call this silent...
    assert peak_window_dbfs(take, SR) == pytest.approx(-29.0, abs=0.2)
    assert not is_silent(take, SR)  # ...the loudest window does not
    check_not_silent(np.stack([take, take]), SR)


def test_hiss_below_threshold_is_silent() -> None:
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(SR * 3) * 10 ** (-65 / 20)).astype(np.float32)  # -65 dBFS
    assert is_silent(hiss, SR)
    with pytest.raises(Silent) as caught:
        check_not_silent(hiss[np.newaxis], SR)
    assert caught.value.code == "silent"
    assert caught.value.facts["level_dbfs"] == pytest.approx(-65, abs=1.5)
    assert not is_silent(hiss, SR, threshold_dbfs=-70)


@pytest.mark.parametrize(("from_hz", "to_hz"), [(44100, 16000), (22050, 48000), (48000, 44100)])
def test_resample_keeps_pitch_and_length(from_hz: int, to_hz: int) -> None:
    seconds = 0.5
    out = resample(np.stack([sine(440, seconds, sr=from_hz), sine(880, seconds, sr=from_hz)]),
                   from_hz, to_hz)  # fmt: skip
    assert out.dtype == np.float32 and out.shape[0] == 2
    assert out.shape[1] == pytest.approx(seconds * to_hz, abs=1)
    for channel, f_hz in enumerate((440, 880)):
        spectrum = np.abs(np.fft.rfft(out[channel] * np.hanning(out.shape[1])))
        peak_hz = np.argmax(spectrum) * to_hz / out.shape[1]
        assert peak_hz == pytest.approx(f_hz, abs=3)


def test_resample_same_rate_is_identity() -> None:
    x = sine(440, 0.1)
    assert resample(x, SR, SR) is x
    with pytest.raises(ValueError):
        resample(x, 0, SR)
