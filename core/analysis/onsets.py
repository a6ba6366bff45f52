"""Where notes begin, as the onset network hears them (:mod:`models.onsets`).

Only a take that does not read clean asks (the planner's ``ATTACKS_HEARD_DB``): there the
pitch track hears a new note late in the ring of the one before, and a re-struck repeat not at
all. The clip is read from its source a block at a time, folded to mono and resampled to the
network's 16 kHz: a minute of a clip costs about 6 MB here (its 16 kHz samples and features),
whatever its own rate and channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.media.audio import resample, to_mono

if TYPE_CHECKING:
    from core.media.spool import AudioSource
    from models.onsets import OnsetNet

BLOCK_S = 20.0  # s of the clip read at a time
THRESHOLD = 0.5  # onset probability at a peak that is a note's beginning
PEAK_REACH = 3  # frames: a peak is the highest within this many frames either side
OWN_RISE_DB = 3.0  # dB: an onset inside a sounding note is that note's when its harmonics rise
OWN_RISE_LAG = 4  # frames: ...this much against the level this many frames before...
OWN_RISE_REACH = 7  # frames: ...up to this long after the onset (its window is 85 ms long)


def onset_probability(source: AudioSource, n_frames: int, net: OnsetNet) -> npt.NDArray[np.float64]:
    """Per pitch-track frame (10 ms), the probability that a note begins there."""
    import models.onsets as network

    rate = source.sample_rate
    total = source.length
    step = round(BLOCK_S * rate)
    margin = round(0.05 * rate)  # resampling's edges, cut away after
    pieces = []
    for a in range(0, total, step):
        b = min(total, a + step)
        lo, hi = max(0, a - margin), min(total, b + margin)
        mono = resample(to_mono(source.read(lo, hi)), rate, network.SAMPLE_RATE)
        scale = network.SAMPLE_RATE / rate
        pieces.append(mono[round((a - lo) * scale) : round((b - lo) * scale)])
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    features = network.normalised(network.band_levels_db(audio))
    prob = network.onset_probability(net, features)
    out = np.zeros(n_frames, dtype=np.float64)
    m = min(n_frames, len(prob))
    out[:m] = prob[:m]
    return out


def onset_frames(prob: npt.NDArray[np.float64], threshold: float = THRESHOLD) -> list[int]:
    """Frames where ``prob`` peaks (highest within ``PEAK_REACH``) at ``threshold`` or above."""
    from models.onsets import peak_frames

    return peak_frames(prob, threshold, reach=PEAK_REACH)


def own_onset(
    source: AudioSource, frame: int, f0_hz: npt.NDArray[np.float64], hop_s: float
) -> bool:
    """Whether the pitch sounding just after ``frame`` rises there in its own harmonics.

    The network hears any attack: a TV's chord or a talker's syllable too. A re-struck note
    starts its own harmonics afresh over their ring, so only an onset where the bands of the
    pitch that sounds on (:func:`core.analysis.bands.pitch_level_db`) jump is the player's.
    """
    from core.analysis.bands import pitch_level_db
    from models.units import hz_to_midi

    after = f0_hz[frame + 2 : frame + 12]
    after = after[np.isfinite(after)]
    if len(after) == 0:
        return False
    midi = float(np.median(hz_to_midi(after)))
    frames = np.arange(max(0, frame - 2 - OWN_RISE_LAG), frame + OWN_RISE_REACH + 1)
    level = pitch_level_db(source, frames, hop_s, midi)
    if level is None or len(level) <= OWN_RISE_LAG:
        return False
    return float(np.max(level[OWN_RISE_LAG:] - level[:-OWN_RISE_LAG])) >= OWN_RISE_DB
