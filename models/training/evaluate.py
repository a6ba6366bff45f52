"""Held-out evaluation: the unseen-soundfont set and the metrics (run by ``python -m bench.pitch``).

The held-out set is rendered from **TimGM6mb**, a soundfont training never hears, with its own
per-note calibration (:func:`models.training.synth.calibrate_notes`). Metrics follow mir_eval's
definitions, with the pitch a tracker reports on every frame (before its voicing decision) used
for the pitch metrics, and its voicing decision for F1:

* RPA: share of truth-voiced frames with pitch within 50 cents;
* octave errors: share of truth-voiced frames off by 1200 +- 100 cents (or more octaves);
* steady median: median |cents| on bend-free notes, 100 ms after the onset to 50 ms before the end;
* voicing precision / recall / F1 on frames whose truth is unambiguous (no attacks or release
  tails, see :class:`models.training.synth.FrameTruth`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.training import dataset, synth

HELDOUT_PROGRAMS = (73, 74, 71, 68, 40, 42, 56, 65, 52, 53)
HELDOUT_SEED = 20260
HELDOUT_CLIP_S = 30.0


@dataclass(frozen=True)
class PitchScores:
    rpa: float
    octave_error_rate: float
    steady_median_cents: float
    voicing_precision: float
    voicing_recall: float
    voicing_f1: float
    voiced_frames: int
    steady_frames: int

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def cents_error(
    est_hz: npt.NDArray[np.floating], ref_hz: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1200.0 * np.log2(np.asarray(est_hz, float) / np.asarray(ref_hz, float))


def score(
    pitch_hz: npt.NDArray[np.floating],
    voiced_est: npt.NDArray[np.bool_],
    truth: synth.FrameTruth,
) -> PitchScores:
    """``pitch_hz``: the tracker's pitch on every frame (NaN/0 where it gave none)."""
    n = min(len(pitch_hz), len(truth.f0_hz))
    p, v = np.asarray(pitch_hz[:n], float), np.asarray(voiced_est[:n], bool)
    ref, ref_v = truth.f0_hz[:n], truth.voiced[:n]
    clear = truth.voicing_weight[:n] > 0
    err = cents_error(np.where(p > 0, p, np.nan), ref)
    judged = ref_v & clear
    ok = np.abs(err) <= 50.0
    octave = np.abs(err) >= 1100.0
    octave &= np.abs((np.abs(err) + 600.0) % 1200.0 - 600.0) <= 100.0
    steady = truth.steady[:n] & ref_v & clear
    tp = int(np.sum(v & ref_v & clear))
    fp = int(np.sum(v & ~ref_v & clear))
    fn = int(np.sum(~v & ref_v & clear))
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    return PitchScores(
        rpa=float(np.mean(ok[judged])) if judged.any() else float("nan"),
        octave_error_rate=float(np.mean(octave[judged])) if judged.any() else float("nan"),
        steady_median_cents=float(np.nanmedian(np.abs(err[steady])))
        if steady.any()
        else float("nan"),
        voicing_precision=float(precision),
        voicing_recall=float(recall),
        voicing_f1=float(2 * precision * recall / max(1e-12, precision + recall)),
        voiced_frames=int(judged.sum()),
        steady_frames=int(steady.sum()),
    )


def heldout_clips(cache_dir: Path, *, clip_s: float = HELDOUT_CLIP_S) -> list[dataset.Clip]:
    if not synth.fluidsynth_available() or not synth.TIMGM6MB.is_file():
        raise RuntimeError("the held-out set needs fluidsynth and TimGM6mb.sf2")
    return dataset.render_clips(
        synth.TIMGM6MB,
        list(HELDOUT_PROGRAMS),
        clips_per_program=1,
        clip_s=clip_s,
        seed=HELDOUT_SEED,
        cache_dir=cache_dir,
    )


TrackFn = Callable[
    [npt.NDArray[np.float32], int], tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]
]


def evaluate(track: TrackFn, clips: list[dataset.Clip]) -> PitchScores:
    """Pooled scores of ``track(audio, sample_rate) -> (pitch_hz on every frame, voiced)``.

    The tracker comes in as a function: models/ never imports core/ (docs/architecture.rst),
    and the same loop scores our tracker and the peers in bench/pitch.py.
    """
    pitch, voiced, truths = [], [], []
    for clip in clips:
        p, v = track(clip.audio, dataset.CLIP_RATE)
        n = len(clip.truth.f0_hz)
        p, v = np.asarray(p, float)[:n], np.asarray(v, bool)[:n]
        if len(p) < n:  # a tracker that stops early gets "no pitch" for the rest
            p = np.concatenate([p, np.full(n - len(p), np.nan)])
            v = np.concatenate([v, np.zeros(n - len(v), bool)])
        pitch.append(p)
        voiced.append(v)
        truths.append(clip.truth)
    # Pool frames, not per-clip scores: the steady median is a median over every steady frame.
    truth = synth.FrameTruth(
        np.concatenate([t.f0_hz for t in truths]),
        np.concatenate([t.voiced for t in truths]),
        np.concatenate([t.voicing_weight for t in truths]),
        np.concatenate([t.steady for t in truths]),
    )
    return score(np.concatenate(pitch), np.concatenate(voiced), truth)
