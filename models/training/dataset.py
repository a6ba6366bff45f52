"""From rendered clips to a bank of labelled CQT frames, plus the TinySOL loader.

A *clip* is mono audio at 16 kHz with its :class:`models.training.synth.FrameTruth`. Clips are
rendered
once and cached as ``.npz`` under a git-ignored folder (``runs/cache`` by default); the network
trains on individual frames, so all clips are turned into one ``[frames, n_bins]`` log-CQT
matrix with per-frame targets (:class:`FrameBank`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from scipy.io import wavfile

from models.config import TrainConfig
from models.cqt import chunk_audio
from models.network import Tracker
from models.training import augment, synth
from models.units import hz_to_midi, note_name_to_midi

log = logging.getLogger(__name__)

CLIP_RATE = 16000  # Hz


@dataclass
class Clip:
    audio: npt.NDArray[np.float32]  # [samples] at CLIP_RATE
    truth: synth.FrameTruth
    name: str


@dataclass
class FrameBank:
    """Every training frame: features and targets, row-aligned."""

    log_cqt: torch.Tensor  # [n, n_bins] float32
    midi: torch.Tensor  # [n] float32, NaN where unvoiced
    voiced: torch.Tensor  # [n] float32 in {0, 1}
    voicing_weight: torch.Tensor  # [n] float32

    def __len__(self) -> int:
        return int(self.log_cqt.shape[0])


def _resample(audio: npt.NDArray[np.float32], from_hz: int, to_hz: int) -> npt.NDArray[np.float32]:
    if from_hz == to_hz:
        return audio
    import torchaudio.functional as taf

    return taf.resample(torch.from_numpy(audio), from_hz, to_hz).numpy()


def _save_clip(path: Path, clip: Clip) -> None:
    t = clip.truth
    np.savez(
        path,
        audio=clip.audio,
        f0_hz=t.f0_hz,
        voiced=t.voiced,
        voicing_weight=t.voicing_weight,
        steady=t.steady,
    )


def load_clip(path: Path) -> Clip:
    with np.load(path) as z:
        truth = synth.FrameTruth(z["f0_hz"], z["voiced"], z["voicing_weight"], z["steady"])
        return Clip(z["audio"], truth, path.stem)


def render_clips(
    soundfont: Path,
    programs: list[int],
    *,
    clips_per_program: int,
    clip_s: float,
    seed: int,
    cache_dir: Path,
    steady: bool = False,
) -> list[Clip]:
    """Render (or reuse from ``cache_dir``) calibrated phrases for each program."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []
    for program in programs:
        low, high = synth.MELODY_PROGRAMS[program]
        for i in range(clips_per_program):
            key = json.dumps([soundfont.name, program, i, clip_s, seed, steady, 4])
            name = f"{soundfont.stem}-p{program}-{i}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
            path = cache_dir / f"{name}.npz"
            if path.exists():
                clips.append(load_clip(path))
                continue
            rng = np.random.default_rng([seed, program, i])
            phrase = synth.random_phrase(
                rng,
                low_midi=low,
                high_midi=high,
                duration_s=clip_s,
                program=program,
                steady=steady,
            )
            phrase.calibration_curves = synth.calibrate_phrase(phrase, soundfont)
            audio = synth.render_phrase(phrase, soundfont)
            clip = Clip(
                _resample(audio, synth.RENDER_RATE, CLIP_RATE), synth.phrase_truth(phrase), name
            )
            _save_clip(path, clip)
            clips.append(clip)
    return clips


def _generated_clips(
    make: Callable[..., tuple[Any, Any]], salt: int, prefix: str, n: int, clip_s: float, seed: int
) -> list[Clip]:
    """``n`` clips from a generator, each seeded by (seed, salt, index) so sets never overlap."""
    clips = []
    for i in range(n):
        rng = np.random.default_rng([seed, salt, i])
        audio, truth = make(rng, duration_s=clip_s, sample_rate=CLIP_RATE)
        clips.append(Clip(audio, truth, f"{prefix}-{i}"))
    return clips


def synthetic_clips(n: int, *, clip_s: float, seed: int, high_midi: int = 96) -> list[Clip]:
    def make(rng: np.random.Generator, **kw: Any) -> tuple[Any, Any]:
        return synth.synthetic_phrase(rng, high_midi=high_midi, **kw)

    return _generated_clips(make, 999, "synthetic", n, clip_s, seed)


def whistle_clips(n: int, *, clip_s: float, seed: int) -> list[Clip]:
    """Training whistles (:func:`models.training.augment.whistle_clip`, not the bench's
    generator)."""
    return _generated_clips(augment.whistle_clip, 8081, "whistle", n, clip_s, seed)


def noise_clips(n: int, *, clip_s: float, seed: int) -> list[Clip]:
    return _generated_clips(synth.noise_clip, 555, "noise", n, clip_s, seed)


# ---------------------------------------------------------------------------------------------
# TinySOL


@dataclass(frozen=True)
class TinySolItem:
    path: Path
    midi: int
    fold: int
    instrument: str


def tinysol_items(root: Path, metadata_csv: Path | None = None) -> list[TinySolItem]:
    """The sustained-pitch notes listed in TinySOL's metadata (``TinySOL_metadata.csv`` layout:
    Path, Fold, ..., Instrument (in full), ..., Pitch, ...), relative to ``root``. Rows whose
    file is missing are skipped with a log line, so a partial download still works."""
    metadata_csv = metadata_csv or root / "TinySOL_metadata.csv"
    items = []
    with open(metadata_csv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path = root / row["Path"]
            if not path.is_file():
                log.info("TinySOL file missing, skipped: %s", path)
                continue
            items.append(
                TinySolItem(
                    path,
                    note_name_to_midi(row["Pitch"]),
                    int(row["Fold"]),
                    row["Instrument (in full)"],
                )
            )
    return items


def load_tinysol_clip(item: TinySolItem, *, threshold_db: float = -35.0) -> Clip:
    """One note; frames within ``threshold_db`` of the loudest frame count as voiced at the
    note's nominal pitch (TinySOL's samples were retuned to equal temperament), the quiet decay
    in between is left out of the voicing loss."""
    rate, data = wavfile.read(item.path)
    audio = data.astype(np.float32)
    if data.dtype == np.int16:
        audio /= 32768.0
    elif data.dtype == np.int32:
        audio /= 2147483648.0
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    audio = _resample(np.ascontiguousarray(audio), int(rate), CLIP_RATE)
    hop = CLIP_RATE // 100
    n = (len(audio) - 1) // hop + 1
    padded = np.pad(audio, (hop, hop + hop))
    rms = np.array([np.sqrt(np.mean(padded[i * hop : i * hop + 2 * hop] ** 2)) for i in range(n)])
    level_db = 20 * np.log10(rms + 1e-9)
    voiced = level_db > level_db.max() + threshold_db
    silent = level_db < level_db.max() - 60.0
    f0 = np.where(voiced, 440.0 * 2 ** ((item.midi - 69) / 12), np.nan)
    weight = (voiced | silent).astype(np.float32)
    truth = synth.FrameTruth(f0, voiced, weight, np.zeros(n, bool))
    return Clip(audio, truth, item.path.stem)


# ---------------------------------------------------------------------------------------------
# Frames


@torch.inference_mode()
def clip_log_cqt(tracker: Tracker, audio_16k: npt.NDArray[np.float32]) -> torch.Tensor:
    """``[frames, total_bins]`` with frame ``i`` at ``i * 10 ms``, exactly as inference sees
    it (both bands when the tracker has a high one)."""
    params = tracker.cqt_params
    coarse = torch.from_numpy(_resample(audio_16k, CLIP_RATE, params.sample_rate))
    n = (len(audio_16k) - 1) // (CLIP_RATE // 100) + 1
    piece = chunk_audio(coarse, params, 0, n)
    high = None
    if params.high_n_bins:
        hp = params.high()
        fine = torch.from_numpy(_resample(audio_16k, CLIP_RATE, hp.sample_rate))
        high = chunk_audio(fine, hp, 0, n)[None]
    return tracker.log_cqt(piece[None], high)[0].T.contiguous()


@dataclass(frozen=True)
class RoomBanks:
    """Cached impulse responses and noises that ``room_copies`` draw from."""

    irs: list[npt.NDArray[np.float32]]
    noises: dict[str, npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Version:
    """One rendering of a clip (clean, augmented or in a room) with its per-frame targets."""

    audio: npt.NDArray[np.float32]
    midi: torch.Tensor  # [n] float32, NaN where unvoiced
    voiced: torch.Tensor  # [n] float32 in {0, 1}
    voicing_weight: torch.Tensor  # [n] float32


def clip_versions(
    clip: Clip,
    *,
    config: TrainConfig,
    rng: np.random.Generator,
    room_banks: RoomBanks | None = None,
) -> list[Version]:
    """The clip clean, ``augment_copies`` times augmented and (with ``room_banks``)
    ``room_copies`` times in a real room with real noise; targets cut to ``frames(audio)``."""
    snr = (config.room_snr_min_db, config.room_snr_max_db)
    versions = [(clip.audio, False, False)]
    for _ in range(config.augment_copies):
        audio, reverb = synth.augment(rng, clip.audio, CLIP_RATE)
        versions.append((audio, reverb, False))
    if room_banks is not None:
        for _ in range(config.room_copies):
            mixed = augment.room_mix(
                rng, clip.audio, CLIP_RATE, room_banks.irs, room_banks.noises, snr_db=snr
            )
            versions.append((mixed.audio, mixed.reverb, mixed.pitched_noise))
    out = []
    t = clip.truth
    for audio, reverb, pitched_noise in versions:
        n = min((len(audio) - 1) // (CLIP_RATE // 100) + 1, t.f0_hz.shape[0])
        w = t.voicing_weight[:n].copy()
        if pitched_noise:
            # Speech in the rests is not the take, but a voice it is: calling it either
            # way is core.plan.performance's job, so the network is taught neither.
            w[~t.voiced[:n]] = 0.0
        if reverb:
            # A room keeps a note ringing after its end: don't punish either answer there.
            v = t.voiced[:n]
            for e in np.flatnonzero(v[:-1] & ~v[1:]):
                w[e + 1 : e + 40] = np.where(v[e + 1 : e + 40], w[e + 1 : e + 40], 0.0)
        out.append(
            Version(
                audio,
                torch.from_numpy(hz_to_midi(t.f0_hz[:n]).astype(np.float32)),
                torch.from_numpy(t.voiced[:n].astype(np.float32)),
                torch.from_numpy(w.astype(np.float32)),
            )
        )
    return out


def frame_bank(
    clips: list[Clip],
    tracker: Tracker,
    *,
    config: TrainConfig,
    rng: np.random.Generator,
    room_banks: RoomBanks | None = None,
) -> FrameBank:
    """CQT frames of each clip, clean, ``augment_copies`` times augmented and (with
    ``room_banks``) ``room_copies`` times in a real room with real noise."""
    feats, midis, voiced, weights = [], [], [], []
    for clip in clips:
        for version in clip_versions(clip, config=config, rng=rng, room_banks=room_banks):
            x = clip_log_cqt(tracker, version.audio)
            n = min(x.shape[0], version.midi.shape[0])
            feats.append(x[:n])
            midis.append(version.midi[:n])
            voiced.append(version.voiced[:n])
            weights.append(version.voicing_weight[:n])
    return FrameBank(torch.cat(feats), torch.cat(midis), torch.cat(voiced), torch.cat(weights))
