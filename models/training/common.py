"""What both training loops share: targets, schedules, the clips, and how a run is saved.

The body (:mod:`models.training.train`) and the temporal refiner
(:mod:`models.training.train_refiner`) are trained from the same rendered clips with the same
Gaussian pitch targets and one-cycle schedule; keeping those here lets each loop import them
without importing the other.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch

from models import checkpoint
from models.config import TrainConfig
from models.network import Tracker
from models.training import augment, dataset, synth

log = logging.getLogger("models.training.common")


def pitch_targets(midi: torch.Tensor, tracker: Tracker, sigma_cents: float) -> torch.Tensor:
    """``[n]`` MIDI (finite) -> ``[n, n_pitch_bins]`` Gaussian bumps around the true pitch."""
    n_bins = tracker.hparams.n_pitch_bins
    bin_midi = tracker.pitch_bin_midi0 + torch.arange(n_bins, device=midi.device) / (
        tracker.bins_per_semitone
    )
    cents = (bin_midi[None, :] - midi[:, None]) * 100.0
    return torch.exp(-0.5 * (cents / sigma_cents) ** 2)


def one_cycle(progress: float, *, pct_start: float = 0.1) -> float:
    """OneCycleLR's shape (cosine up from 1/25 to 1, cosine down to 1/25e4) at ``progress`` in
    [0, 1]: a shared machine can then stop a run at ``max_minutes`` with the rate annealed,
    where a schedule by steps would stop it at a high rate."""
    start, end = 1 / 25, 1 / 25e4
    if progress < pct_start:
        a, b, x = start, 1.0, progress / pct_start
    else:
        a, b, x = 1.0, end, (progress - pct_start) / (1 - pct_start)
    return b + (a - b) * (1 + math.cos(math.pi * min(1.0, x))) / 2


def in_pitch_range(midi: torch.Tensor, tracker: Tracker) -> torch.Tensor:
    """Frames whose pitch the network can name; the rest only teach voicing."""
    top_midi = tracker.pitch_bin_midi0 + (tracker.hparams.n_pitch_bins - 1) / 2
    return (midi >= tracker.pitch_bin_midi0) & (midi <= top_midi)


def time_progress(step: int, steps: int, started: float, deadline: float) -> float:
    """How far through the schedule a run is, by steps or by the wall clock, whichever is
    further: a run cut by ``max_minutes`` still anneals to the end of its one cycle."""
    return max(
        (step - 1) / max(1, steps),
        (time.monotonic() - started) / max(1e-9, deadline - started),
    )


def save_run(
    tracker: Tracker,
    out: Path,
    config: TrainConfig,
    *,
    steps_done: int,
    frames: int,
    started: float,
    **extra: object,
) -> None:
    """Write the trained tracker with what made it (config, steps, frames, seconds)."""
    meta = {
        "config": config.to_dict(),
        **extra,
        "steps_done": steps_done,
        "frames": frames,
        "train_s": round(time.monotonic() - started, 1),
    }
    checkpoint.save_tracker(tracker, out, meta=meta)
    log.info("saved %s after %d steps", out, steps_done)


def training_clips(
    config: TrainConfig, cache_dir: Path
) -> tuple[list[dataset.Clip], dataset.RoomBanks | None]:
    """The config's clips (rendered or cached) and, when it asks for room copies, the cached
    impulse responses and noises they draw from."""
    clips: list[dataset.Clip] = []
    if config.soundfont and config.clips_per_program > 0:
        programs = list(config.programs) or sorted(synth.MELODY_PROGRAMS)
        clips += dataset.render_clips(
            Path(config.soundfont),
            programs,
            clips_per_program=config.clips_per_program,
            clip_s=config.clip_s,
            seed=config.seed,
            cache_dir=cache_dir,
        )
    clips += dataset.synthetic_clips(
        config.synthetic_clips,
        clip_s=config.clip_s,
        seed=config.seed,
        high_midi=config.synthetic_high_midi,
    )
    clips += dataset.whistle_clips(config.whistle_clips, clip_s=config.clip_s, seed=config.seed)
    clips += dataset.noise_clips(config.noise_clips, clip_s=config.clip_s, seed=config.seed)
    if config.tinysol_root:
        items = dataset.tinysol_items(Path(config.tinysol_root))
        clips += [dataset.load_tinysol_clip(item) for item in items if item.fold != 0]
    log.info(
        "%d clips, %.1f min of audio",
        len(clips),
        sum(len(c.audio) for c in clips) / dataset.CLIP_RATE / 60,
    )
    banks = None
    if config.room_copies > 0:
        banks = dataset.RoomBanks(
            augment.room_bank(config.seed, config.room_irs, dataset.CLIP_RATE, cache_dir),
            augment.noise_bank(config.seed, config.noise_bank_s, dataset.CLIP_RATE, cache_dir),
        )
    return clips, banks
