"""The room material the benchmarks and tests are built from says what it makes."""

from __future__ import annotations

import numpy as np
import pytest

from models import rooms

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
