"""How loud one pitch is, frame by frame: the level of its harmonics' bands.

In an echoing room the note before rings on into the next one, and a pitch tracker follows
the louder of the two: the new note is heard when it dominates, up to a tenth of a second after
it began. Its own harmonics rise the moment it starts, though, whatever else still sounds:
the level of the bands around the new pitch's harmonics, leaving out those it shares with
the ringing note, jumps at the onset (the direct sound arrives before its echoes). That jump
is what the score-informed listening (:mod:`core.plan.informed`) looks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from models.units import midi_to_hz

if TYPE_CHECKING:
    from core.media.spool import AudioSource

__all__ = ["WINDOW_S", "harmonic_bands", "pitch_level_db"]

WINDOW_S = 0.085  # s: the analysis window, ~a semitone apart at 250 Hz (Hann, 4096 at 48 kHz)
HARMONICS = 5
TOP_HZ = 8000.0  # harmonics above this are left out (air, noise, codecs)
BAND_SEMITONES = 0.5  # each band reaches this far either side of its harmonic
SHARED_SEMITONES = 0.6  # a harmonic this near one of the other note's is that note's too
FLOOR_POWER = 1e-12


def harmonic_bands(
    midi: float, n_fft: int, sample_rate: int, *, a4_hz: float = 440.0,
    other_midi: float | None = None,
) -> list[npt.NDArray[np.intp]]:  # fmt: skip
    """FFT bins of each harmonic's band of ``midi``, without those near ``other_midi``'s
    harmonics (the ringing note's energy there would read as the new note's)."""
    f0 = float(midi_to_hz(midi, a4_hz=a4_hz))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    others = None
    if other_midi is not None:
        others = float(midi_to_hz(other_midi, a4_hz=a4_hz)) * np.arange(1, 3 * HARMONICS)
    bands = []
    for h in range(1, HARMONICS + 1):
        fh = h * f0
        if fh > min(TOP_HZ, sample_rate / 2 - 1):
            break
        if others is not None and np.min(np.abs(12 * np.log2(others / fh))) < SHARED_SEMITONES:
            continue
        lo, hi = fh * 2 ** (-BAND_SEMITONES / 12), fh * 2 ** (BAND_SEMITONES / 12)
        idx = np.flatnonzero((freqs >= lo) & (freqs <= hi))
        bands.append(idx if len(idx) else np.array([round(fh * n_fft / sample_rate)]))
    return bands


def pitch_level_db(
    source: AudioSource,
    frames: npt.NDArray[np.integer],
    hop_s: float,
    midi: float,
    *,
    a4_hz: float = 440.0,
    other_midi: float | None = None,
) -> npt.NDArray[np.float64] | None:
    """Level in dB of ``midi``'s harmonic bands in a window centred on each frame (frame i at
    ``i * hop_s``); None when every band is shared with ``other_midi``'s."""
    sr = source.sample_rate
    n_fft = int(2 ** round(np.log2(WINDOW_S * sr)))
    bands = harmonic_bands(midi, n_fft, sr, a4_hz=a4_hz, other_midi=other_midi)
    if not bands or len(frames) == 0:
        return None
    centres = np.round(np.asarray(frames) * hop_s * sr).astype(np.int64)
    first = int(centres[0]) - n_fft // 2
    block = source.read(first, int(centres[-1]) + n_fft // 2 + 1).mean(axis=0)
    offsets = centres - n_fft // 2 - first
    windows = np.stack([block[o : o + n_fft] for o in offsets]) * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(windows, axis=1)) ** 2
    level = sum(power[:, b].max(axis=1) for b in bands)
    return 10.0 * np.log10(np.asarray(level, dtype=np.float64) + FLOOR_POWER)
