"""Training rooms, noises and whistles (models.training.augment): exact truth, apart from the
benches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.config import CONFIG_DIR, TrainConfig
from models.decode import refine_f0_hz
from models.training import augment, rooms
from models.training.train import train


def _has_pyroomacoustics() -> bool:
    try:
        import pyroomacoustics  # noqa: F401
    except ImportError:
        return False
    return True


def test_whistle_truth_matches_the_audio_up_to_4_4_khz() -> None:
    audio, truth = augment.whistle_clip(np.random.default_rng(3), duration_s=20.0)
    steady = np.flatnonzero(truth.steady)
    assert len(steady) > 100
    assert np.nanmax(truth.f0_hz) > 3500 and np.nanmin(truth.f0_hz) < 2100
    f0, _ = refine_f0_hz(
        torch.from_numpy(audio.astype(np.float64)),
        torch.from_numpy(steady * 160),
        torch.from_numpy(truth.f0_hz[steady]),
    )
    cents = np.abs(1200 * np.log2(f0.numpy() / truth.f0_hz[steady]))
    high = truth.f0_hz[steady] > 2100
    assert high.sum() > 20
    assert np.median(cents[high]) < 1.0 and np.median(cents[~high]) < 1.0
    # Every judged frame (vibrato, slides, portamento included) within a few cents.
    judged = np.flatnonzero(truth.voiced & (truth.voicing_weight > 0))
    f0, _ = refine_f0_hz(
        torch.from_numpy(audio.astype(np.float64)),
        torch.from_numpy(judged * 160),
        torch.from_numpy(truth.f0_hz[judged]),
    )
    cents = np.abs(1200 * np.log2(f0.numpy() / truth.f0_hz[judged]))
    assert np.percentile(cents, 95) < 10.0


def test_training_rooms_are_not_the_bench_rooms() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        room = augment.random_room(rng)
        assert 0.2 <= room.rt60_s <= 1.3
        distance = float(np.linalg.norm(np.subtract(room.source_m, room.mic_m)))
        assert 0.5 <= distance <= 3.5
        for pos in (room.source_m, room.mic_m):
            assert all(0.4 <= p <= s - 0.4 for p, s in zip(pos[:2], room.size_m[:2], strict=True))
        assert all(room.size_m != bench.size_m for bench in rooms.ROOMS)


def test_training_speech_is_not_the_bench_speech() -> None:
    bench_texts = {*rooms.SENTENCES_RU, rooms.COUNT_IN_RU, "ну как, нормально?"}
    assert not bench_texts & set(augment.TRAIN_SENTENCES)
    assert "ru" not in augment.TRAIN_VOICES  # the bench's voice is plain "ru"


@pytest.mark.skipif(not _has_pyroomacoustics(), reason="needs pyroomacoustics (bench extra)")
def test_room_bank_is_cached_and_starts_with_the_direct_path(tmp_path: Path) -> None:
    irs = augment.room_bank(5, 3, 16000, tmp_path)
    again = augment.room_bank(5, 3, 16000, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    for ir, same in zip(irs, again, strict=True):
        assert np.array_equal(ir, same)
        # The direct path (the first strong arrival; a pile of reflections may be louder)
        # comes first: the room's echo follows the note, it never leads it.
        assert np.flatnonzero(np.abs(ir) > 0.5)[0] < 20
        assert np.abs(ir).max() == pytest.approx(1.0)


@pytest.mark.skipif(not (_has_pyroomacoustics() and rooms.espeak_available()), reason="needs tools")
def test_a_run_with_rooms_noises_and_whistles_trains(tmp_path: Path) -> None:
    config = TrainConfig.from_toml(CONFIG_DIR / "smoke.toml").override(
        whistle_clips=1, room_copies=1, room_irs=2, noise_bank_s=6.0
    )
    train(config, tmp_path / "rooms.pt", cache_dir=tmp_path / "cache", device="cpu")
    assert (tmp_path / "rooms.pt").is_file()
    bank = augment.noise_bank(config.seed, 6.0, 16000, tmp_path / "cache")
    assert set(bank) == set(augment.NOISE_KINDS)
    for noise in bank.values():
        assert len(noise) == 96000 and np.sqrt(np.mean(noise.astype(np.float64) ** 2)) == (
            pytest.approx(1.0, rel=1e-3)
        )
