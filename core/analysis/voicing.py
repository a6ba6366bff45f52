"""Is a note sounding? Frame-level voicing decisions from the network's probability.

The network judges each 10 ms frame alone, so isolated flips (one "unvoiced" frame inside a
held note, one "voiced" blip in a breath) happen. A short median filter removes them without
moving note boundaries by more than a frame or two; the threshold is a plain value passed in,
like torchcrepe's ``threshold.At``.
"""

from __future__ import annotations

import torch

DEFAULT_THRESHOLD = 0.5
DEFAULT_MEDIAN_FRAMES = 5  # 50 ms: shorter than any note a person plays on purpose
PITCH_PEAK_FULL = 0.5  # pitch-posterior peak from which the voicing head is taken as it is


def cap_by_pitch_peak(voiced_prob: torch.Tensor, pitch_peak: torch.Tensor) -> torch.Tensor:
    """Voicing no surer than the network is of a pitch: at most ``peak / PITCH_PEAK_FULL``.

    Trained on reverberant takes (where a note's ring-out is left unjudged), the voicing head
    also leans to "voiced" on the breath between two sung notes; there the pitch posterior has
    no clear peak (0.1-0.4, against 0.9+ on a held note), so a frame that names no pitch is not
    called a note. A held note's peak stays high at any loudness (the network reads each frame
    relative to its own peak), so soft notes keep their voicing.
    """
    return torch.minimum(voiced_prob, pitch_peak / PITCH_PEAK_FULL)


def median_smooth(prob: torch.Tensor, width: int = DEFAULT_MEDIAN_FRAMES) -> torch.Tensor:
    """Running median over ``width`` frames (odd), edges padded by replication."""
    if width <= 1 or prob.numel() == 0:
        return prob
    half = width // 2
    padded = torch.nn.functional.pad(prob[None, None], (half, half), mode="replicate")[0, 0]
    return padded.unfold(0, width, 1).median(dim=1).values


def apply_threshold(
    f0_hz: torch.Tensor, voiced_prob: torch.Tensor, threshold: float = DEFAULT_THRESHOLD
) -> torch.Tensor:
    """``f0_hz`` with NaN where ``voiced_prob < threshold`` (a new tensor; inputs untouched)."""
    return torch.where(voiced_prob >= threshold, f0_hz, torch.full_like(f0_hz, float("nan")))
