"""The room material the benchmarks and tests are built from says what it makes."""

from __future__ import annotations

import numpy as np
import pytest

from bench.rooms import room_truth
from models.training import rooms, synth

RATE = 16000


def test_mix_at_snr_sets_the_noise_against_the_music_while_it_plays() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(4 * RATE) / RATE
    music = np.sin(2 * np.pi * 440 * t) * (t < 2.0)  # two seconds of music, two of rest
    noise = rooms.pink_noise(rng, len(music))
    mixed = rooms.mix_at_snr(music, noise, 10.0, RATE)
    added = mixed - music
    snr = 20 * np.log10(np.sqrt(np.mean(music[: 2 * RATE] ** 2)) / np.sqrt(np.mean(added**2)))
    assert snr == pytest.approx(10.0, abs=0.05)


@pytest.mark.parametrize("room", rooms.ROOMS, ids=lambda r: r.name)
def test_room_impulse_response_decays_at_its_rt60(room: rooms.Room) -> None:
    ir, _ = rooms.room_ir(room, RATE)
    assert int(np.argmax(np.abs(ir))) < 0.005 * RATE  # direct path first: no added delay
    # Schroeder backward integration; RT60 from the -5..-25 dB slope (T20 x 3).
    edc = np.cumsum((ir.astype(np.float64) ** 2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    t5, t25 = np.argmax(edc_db <= -5.0), np.argmax(edc_db <= -25.0)
    rt60 = 3.0 * (t25 - t5) / RATE
    assert rt60 == pytest.approx(room.rt60_s, rel=0.35)


def test_whistle_truth_is_the_pitch_that_sounds() -> None:
    audio, truth = rooms.whistle_phrase(np.random.default_rng(5), duration_s=12.0)
    hop = round(0.01 * RATE)
    frames = np.flatnonzero(truth.steady)
    assert len(frames) > 20
    for f in frames[::10]:
        seg = audio[f * hop - 512 : f * hop + 512] * np.hanning(1024)
        spec = np.abs(np.fft.rfft(seg, 16 * 1024))
        peak_hz = np.argmax(spec) * RATE / (16 * 1024)
        assert abs(1200 * np.log2(peak_hz / truth.f0_hz[f])) < 5.0


@pytest.mark.skipif(not rooms.espeak_available(), reason="needs espeak-ng")
def test_count_in_scene_keeps_the_music_and_puts_speech_before_it() -> None:
    t = np.arange(2 * RATE) / RATE
    music = (0.3 * np.sin(2 * np.pi * 523.25 * t)).astype(np.float32)
    scene = rooms.count_in_scene(music, RATE, seed=1)
    start = round(scene.music_start_s * RATE)
    assert scene.music_end_s - scene.music_start_s == pytest.approx(2.0, abs=1e-3)
    lead = scene.audio[: start - round(0.5 * RATE)]
    rest = np.sqrt(
        np.mean(scene.audio[start - round(0.45 * RATE) : start - round(0.05 * RATE)] ** 2)
    )
    speaking = np.sqrt(np.mean(lead**2))
    assert speaking > 3 * rest  # a spoken count-in, then the hum and noise alone
    played = scene.audio[start : start + len(music)] - music
    assert np.sqrt(np.mean(played**2)) < 0.05 * np.sqrt(np.mean(music**2))  # music added as is


def _two_notes() -> tuple[synth.FrameTruth, np.ndarray]:
    """A held A3 for 1 s, then a B3 whose dry pitch drifts up 20 cents over its second."""
    n = 201
    f0 = np.full(n, 220.0)
    f0[100:] = 246.94 * 2 ** (np.linspace(0.0, 20.0, 101) / 1200)
    voiced = np.ones(n, bool)
    truth = synth.FrameTruth(f0, voiced, np.ones(n, np.float32), np.ones(n, bool))
    return truth, np.ones(200 * 160, np.float32)  # constant level: only the room weights


def test_room_truth_is_the_dry_truth_in_a_dry_room_and_on_a_held_pitch() -> None:
    truth, dry = _two_notes()
    direct = np.zeros(64, np.float32)
    direct[0] = 1.0
    np.testing.assert_allclose(room_truth(truth, dry, direct), truth.f0_hz, rtol=1e-12)
    hall, _ = rooms.room_ir(rooms.ROOMS[3], RATE)
    in_hall = room_truth(truth, dry, hall)
    np.testing.assert_allclose(in_hall[:100], 220.0, rtol=1e-12)  # nothing to smear


def test_room_truth_smears_a_drift_but_never_mixes_in_the_last_note() -> None:
    truth, dry = _two_notes()
    hall, _ = rooms.room_ir(rooms.ROOMS[3], RATE)
    in_hall = room_truth(truth, dry, hall)
    cents = 1200 * np.log2(in_hall[100:] / truth.f0_hz[100:])
    assert cents[0] == pytest.approx(0.0, abs=1e-9)  # the new note's first frame: only itself
    assert np.all(cents[1:] < 0.0)  # the room still carries the note's lower, earlier pitch
    assert np.all(cents > -20.0)  # but never below where the note started
