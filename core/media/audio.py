"""Small sample-level helpers shared by the media path, the tracker and the retuner.

Audio arrays here are float32 in [-1, 1]: ``[channels, samples]`` as
:func:`core.media.io.decode_audio`
returns them, or ``[samples]`` once mixed to mono. torchaudio is imported only inside
:func:`resample`, so ``smask probe`` and the bot's handlers stay quick to start.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.errors import Silent

FloatArray = npt.NDArray[np.float32]

SILENCE_DBFS = -50.0  # dBFS; the loudest window of a real take is far above this
LOUDNESS_WINDOW_S = 0.05  # s; short enough that one plucked note counts as sound
_DBFS_FLOOR = -200.0  # dBFS reported for digital zero instead of -inf


def to_mono(audio: npt.NDArray[np.floating]) -> FloatArray:
    """Mix ``[channels, samples]`` (or an already-mono ``[samples]``) down to ``[samples]``.

    A plain mean rather than an ITU downmix: pitch lives in every channel, and a mean can never
    clip, whereas summing a phone's two near-identical channels would.
    """
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise ValueError(f"audio must be [channels, samples] or [samples], got shape {a.shape}")
    if a.shape[0] == 1:
        return a[0]
    return a.mean(axis=0, dtype=np.float32)


def rms_dbfs(audio: npt.NDArray[np.floating]) -> float:
    """RMS level of all samples in dBFS (a full-scale sine reads -3 dB); -200 for digital zero."""
    a = np.asarray(audio, dtype=np.float64)
    if a.size == 0:
        return _DBFS_FLOOR
    rms = float(np.sqrt(np.mean(np.square(a))))
    return 20.0 * np.log10(rms) if rms > 0 else _DBFS_FLOOR


def peak_window_dbfs(
    audio: npt.NDArray[np.floating], sample_rate: int, *, window_s: float = LOUDNESS_WINDOW_S
) -> float:
    """RMS level in dBFS of the loudest ``window_s`` stretch of the mono mix.

    Whole-clip RMS would call a long take with one short note "silent"; the loudest window
    answers the question we care about: is there any sound at all to analyse?
    """
    mono = to_mono(audio).astype(np.float64)
    window = max(1, round(window_s * sample_rate))
    if mono.size <= window:
        return rms_dbfs(mono)
    n_windows = mono.size // window
    frames = mono[: n_windows * window].reshape(n_windows, window)
    power = np.mean(np.square(frames), axis=1)
    tail = mono[n_windows * window :]
    best = float(power.max())
    if tail.size:
        best = max(best, float(np.mean(np.square(tail))))
    return 10.0 * np.log10(best) if best > 0 else _DBFS_FLOOR


def is_silent(
    audio: npt.NDArray[np.floating],
    sample_rate: int,
    *,
    threshold_dbfs: float = SILENCE_DBFS,
) -> bool:
    """True when no ``LOUDNESS_WINDOW_S`` window of the mono mix reaches ``threshold_dbfs``."""
    return peak_window_dbfs(audio, sample_rate) < threshold_dbfs


def check_not_silent(
    audio: npt.NDArray[np.floating],
    sample_rate: int,
    *,
    threshold_dbfs: float = SILENCE_DBFS,
) -> None:
    """Raise :class:`core.errors.Silent` for a clip with nothing to analyse.

    Decided on decoded samples, not on the header (a muted phone still writes an AAC track);
    the streamed pipeline makes the same decision with :func:`check_level` on the loudest
    window the decoder's loudness pass saw.
    """
    check_level(peak_window_dbfs(audio, sample_rate), threshold_dbfs=threshold_dbfs)


def check_level(level: float, *, threshold_dbfs: float = SILENCE_DBFS) -> None:
    """:func:`check_not_silent` on a loudest-window level already measured (streamed)."""
    if level < threshold_dbfs:
        raise Silent(
            f"loudest {LOUDNESS_WINDOW_S * 1000:.0f} ms is {level:.1f} dBFS",
            level_dbfs=round(level, 1),
            threshold_dbfs=threshold_dbfs,
        )


def resample(audio: npt.NDArray[np.floating], from_hz: int, to_hz: int) -> FloatArray:
    """Band-limited resampling of ``[..., samples]`` float audio with torchaudio's sinc filter.

    Returns float32 with the same leading shape; ``from_hz == to_hz`` returns the input as
    float32 without copying when possible.
    """
    a = np.asarray(audio, dtype=np.float32)
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {from_hz} -> {to_hz}")
    if from_hz == to_hz:
        return a
    import torch
    import torchaudio.functional as taf

    out = taf.resample(torch.from_numpy(np.ascontiguousarray(a)), int(from_hz), int(to_hz))
    return out.numpy().astype(np.float32, copy=False)
