"""Training configuration: one frozen dataclass, read from a small TOML override file.

Passed explicitly to every stage (no process-global config, unlike PENN's yapecs), so a test
can train with its own settings while another run is going.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 1234
    # Data: fluidsynth renders of FluidR3 (training never sees TimGM6mb, the held-out font).
    soundfont: str = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    programs: tuple[int, ...] = ()  # empty: every program in models.training.synth.MELODY_PROGRAMS
    clips_per_program: int = 3
    clip_s: float = 30.0
    synthetic_clips: int = 12  # additive harmonic phrases with exact truth
    noise_clips: int = 0  # unpitched material only (silence, hiss, breath, clicks)
    augment_copies: int = 1  # augmented copies per clip, on top of the clean one
    tinysol_root: str = ""  # optional: a TinySOL folder laid out as its metadata CSV says
    synthetic_high_midi: int = 96  # top note of the additive phrases (108: C8, 4186 Hz)
    whistle_clips: int = 0  # near-sine whistled phrases 0.8-4.4 kHz (models.training.augment)
    # Real rooms and noises (models.training.augment): copies per clip through a random image-source
    # room and noise at an SNR drawn from [room_snr_min_db, room_snr_max_db].
    room_copies: int = 0
    room_snr_min_db: float = 0.0
    room_snr_max_db: float = 25.0
    room_irs: int = 48  # impulse responses in the cached bank
    noise_bank_s: float = 120.0  # seconds of each noise kind in the cached bank
    init_from: str = ""  # optional checkpoint to start from (same network shape)
    # Optimisation.
    steps: int = 4000
    batch_frames: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    pitch_sigma_cents: float = 25.0
    voicing_loss_weight: float = 1.0
    max_minutes: float = 25.0  # wall-clock cap; training stops early and saves
    # Anneal the rate by max(steps, wall clock) progress, so a run cut by max_minutes on a busy
    # machine still ends annealed (the step schedule would stop it at a high rate).
    schedule_by_time: bool = False
    # Network size and range.
    channels: int = 16
    n_pitch_bins: int = 125  # fundamentals from B1 in 50-cent bins (125: to C#7; 152: to D8)
    cqt_high_bins: int = 0  # bins of the 16 kHz band above the 8 kHz CQT's 141 (24: to 7 kHz)
    # The temporal refiner (models.training.train_refiner): > 0 trains only a refiner of that many
    # channels on init_from's frozen body, on windows of refiner_window consecutive frames.
    refiner_channels: int = 0
    refiner_window: int = 256
    refiner_batch: int = 16

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["programs"] = list(self.programs)
        return values

    @classmethod
    def from_toml(cls, path: Path | str) -> TrainConfig:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
        return cls().override(**values)

    def override(self, **values: Any) -> TrainConfig:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "programs" in values:
            values["programs"] = tuple(values["programs"])
        return replace(self, **values)
