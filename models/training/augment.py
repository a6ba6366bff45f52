"""Training-only rooms, noises and whistles (issue 12): what a phone hears around a performance.

The benches judge the tracker on rooms, noises and whistles built by :mod:`models.training.rooms`
and
:mod:`bench.rooms` (four fixed rooms, Russian babble and a TV from ``SENTENCES_RU`` in espeak's
default ``ru`` voice, whistles from :func:`models.training.rooms.whistle_phrase` seeded ``[31,
i]``). Training must never see those, so everything here is generated apart from them:

* **Rooms**: shoeboxes of random size (2.5-15 m), random player and phone positions (0.5-3.5 m
  apart) and RT60 0.2-1.3 s, drawn from the training seed; pyroomacoustics' image-source model
  (the ``bench`` extra, which ``make train-pitch`` installs) with the same Sabine absorption as
  the bench, but none of the bench's four geometries.
* **Speech**: espeak-ng in eight languages with voice variants (``ru+f3``, ``en-us+m2``...) and
  :data:`TRAIN_SENTENCES`, none of which the benches speak.
* **A TV**: a presenter over a music bed of random chords and timbres (the bench's bed is fixed
  major triads of one timbre).
* **Noise**: pink, brown and white noise, mains hum at 50 or 60 Hz with random harmonics, a
  single talker, babble of 2-6 talkers, a TV.
* **Whistles**: :func:`whistle_clip`, a generator of its own (0.8-4.4 kHz, portamento between
  notes, random 2nd/3rd harmonics and breath), not the bench's ``whistle_phrase``.

Rooms and noises are made once per seed and cached (``runs/cache``): :func:`room_bank`,
:func:`noise_bank`; each training copy then takes a random impulse response and a random
excerpt of a random noise (:func:`room_mix`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, fftconvolve, sosfilt

from models.training import rooms
from models.training.synth import HOP_S, FrameTruth

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

TRAIN_VOICES = (
    "ru+f3",
    "ru+m3",
    "ru+f5",
    "uk+m2",
    "uk+f2",
    "en-us+m2",
    "en-gb+f4",
    "de+m4",
    "fr-fr+f1",
    "es+m1",
    "it+f3",
    "pl+m5",
)
# Texts the benches never speak (theirs: models.training.rooms.COUNT_IN_RU, SENTENCES_RU, the
# remark).
TRAIN_SENTENCES = (
    "Четыре, пять, шесть, поехали!",
    "Давай ещё раз с самого начала, только медленнее.",
    "Мама, а можно я сыграю это завтра?",
    "Выключи, пожалуйста, свет в коридоре.",
    "Передаём прогноз: на дорогах гололёд, будьте осторожны.",
    "Раз и два и три и четыре.",
    "Слушай, как красиво получилось в конце!",
    "Кто последний в очереди? Я за вами.",
    "One, two, ready, go.",
    "And now the weather for the weekend.",
    "Eins, zwei, drei, vier.",
    "Un, deux, trois, on commence.",
    "Uno, dos, tres, vamos.",
    "Раз, два, три, чотири.",
)
NOISE_KINDS = ("pink", "brown", "white", "hum", "talker", "babble", "tv")
PITCHED_NOISES = frozenset({"talker", "babble", "tv"})  # noises with a pitch of their own


def random_room(rng: np.random.Generator) -> rooms.Room:
    """A shoebox with the player and the phone at least 0.4 m from every wall."""
    length = float(rng.uniform(2.5, 15.0))
    width = float(rng.uniform(2.5, min(12.0, length)))
    height = float(rng.uniform(2.3, 5.0))
    size = (length, width, height)
    rt60 = float(rng.uniform(0.2, 1.3))
    while True:
        x0, y0, x1, y1 = (float(rng.uniform(0.4, s - 0.4)) for s in size[:2] * 2)
        source = (x0, y0, float(rng.uniform(0.8, 1.8)))
        mic = (x1, y1, float(rng.uniform(0.7, 1.6)))
        distance = float(np.linalg.norm(np.subtract(source, mic)))
        if 0.5 <= distance <= 3.5:
            break
    return rooms.Room("train", size, source, mic, rt60)


def room_bank(seed: int, n: int, sample_rate: int, cache_dir: Path) -> list[FloatArray]:
    """``n`` impulse responses of random rooms (cached), direct path first, peak 1."""
    path = cache_dir / f"train-rirs-{seed}-{n}-{sample_rate}.npz"
    if path.exists():
        with np.load(path) as z:
            return [z[f"arr_{i}"] for i in range(n)]
    rng = np.random.default_rng([seed, 4242])
    irs: list[FloatArray] = []
    while len(irs) < n:
        try:
            irs.append(rooms.room_ir(random_room(rng), sample_rate)[0])
        except ValueError:
            # A big room cannot decay as fast as the drawn RT60 (pyroomacoustics' inverse
            # Sabine finds no absorption); draw another (earlier seeds never hit this).
            continue
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, *irs)
    return irs


def _speech_pool(rng: np.random.Generator, sample_rate: int, n: int) -> list[FloatArray]:
    pool = []
    for _ in range(n):
        voice = str(rng.choice(TRAIN_VOICES))
        text = str(rng.choice(TRAIN_SENTENCES))
        pool.append(
            rooms.speech(
                text,
                sample_rate,
                voice=voice,
                pitch=int(rng.integers(15, 95)),
                words_per_minute=int(rng.integers(120, 210)),
            )
        )
    return pool


def _talkers(
    rng: np.random.Generator, pool: list[FloatArray], n: int, voices: int
) -> npt.NDArray[np.float64]:
    out = np.zeros(n)
    for _ in range(voices):
        parts = [pool[i] for i in rng.permutation(len(pool))[:6]]
        out += rooms._fill(parts, n, rng) * float(rng.uniform(0.5, 1.0))
    return out


def _music_bed(rng: np.random.Generator, n: int, sample_rate: int) -> npt.NDArray[np.float64]:
    """Random chords (triads, sevenths, open fifths) of random harmonic timbres."""
    t = np.arange(n) / sample_rate
    bed = np.zeros(n)
    a = 0
    while a < n:
        b = min(n, a + round(float(rng.uniform(0.8, 3.0)) * sample_rate))
        root = float(rng.uniform(40, 66))
        chord = [(0, 3, 7), (0, 4, 7, 10), (0, 7, 12), (0, 3, 7, 10), (0, 5, 9)][
            int(rng.integers(0, 5))
        ]
        slope = float(rng.uniform(1.0, 2.5))
        for interval in chord:
            f = 440.0 * 2 ** ((root + interval - 69) / 12)
            for k in range(1, 9):
                if k * f < sample_rate / 2 - 200:
                    bed[a:b] += np.sin(2 * np.pi * k * f * t[a:b] + rng.uniform(0, 6.3)) / k**slope
        a = b
    return bed


def _normalised(x: npt.NDArray[np.floating]) -> FloatArray:
    x = np.asarray(x, dtype=np.float64)
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def noise_bank(
    seed: int, seconds: float, sample_rate: int, cache_dir: Path
) -> dict[str, FloatArray]:
    """One long take (RMS 1) of every kind in :data:`NOISE_KINDS`, cached per seed."""
    path = cache_dir / f"train-noises-{seed}-{seconds:g}-{sample_rate}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[f"arr_{i}"] for i, k in enumerate(NOISE_KINDS)}
    rng = np.random.default_rng([seed, 777])
    n = round(seconds * sample_rate)
    white = rng.standard_normal(n)
    spec = np.fft.rfft(rng.standard_normal(n))
    brown = np.fft.irfft(spec / np.maximum(np.arange(len(spec)), 1.0), n)
    hum = np.zeros(n)
    a = 0
    while a < n:  # stretches of 50 or 60 Hz hum with their own harmonic profiles
        b = min(n, a + round(float(rng.uniform(5.0, 20.0)) * sample_rate))
        mains = float(rng.choice([50.0, 60.0]))
        tt = np.arange(b - a) / sample_rate
        for k in range(1, 16):
            level = 10 ** (-float(rng.uniform(1.0, 5.0)) * (k - 1) / 20)
            hum[a:b] += level * np.sin(2 * np.pi * k * mains * tt + rng.uniform(0, 6.3))
        a = b
    hum = _normalised(hum) + 10 ** (-30 / 20) * rooms.pink_noise(rng, n)
    pool = _speech_pool(rng, sample_rate, 48)
    talker = _talkers(rng, pool, n, 1)
    babble = np.zeros(n)
    a = 0
    while a < n:  # 2-6 talkers, the crowd changing every few seconds
        b = min(n, a + round(float(rng.uniform(4.0, 12.0)) * sample_rate))
        babble[a:b] = _normalised(_talkers(rng, pool, b - a, int(rng.integers(2, 7))))
        a = b
    presenter = _normalised(_talkers(rng, pool, n, 1))
    bed = _normalised(_music_bed(rng, n, sample_rate))
    tv = presenter + 10 ** (-float(rng.uniform(0.0, 12.0)) / 20) * bed
    bank = {
        "pink": rooms.pink_noise(rng, n),
        "brown": _normalised(brown),
        "white": _normalised(white),
        "hum": _normalised(hum),
        "talker": _normalised(talker),
        "babble": _normalised(babble),
        "tv": _normalised(tv),
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, *[bank[k] for k in NOISE_KINDS])
    return bank


@dataclass(frozen=True)
class Mixed:
    """One augmented copy and what was done to it (the losses treat some frames differently)."""

    audio: FloatArray
    reverb: bool
    pitched_noise: bool


def room_mix(
    rng: np.random.Generator,
    audio: FloatArray,
    sample_rate: int,
    irs: list[FloatArray],
    noises: dict[str, FloatArray],
    *,
    snr_db: tuple[float, float] = (0.0, 25.0),
) -> Mixed:
    """``audio`` in a random room (85 %) with one or two noises at a random SNR against the
    reverberant take's active level (as :func:`models.training.rooms.mix_at_snr` measures it)."""
    out = np.asarray(audio, dtype=np.float64)
    reverb = rng.random() < 0.85
    if reverb:
        ir = irs[int(rng.integers(len(irs)))]
        wet = fftconvolve(out, ir.astype(np.float64))[: len(out)]
        out = wet * np.abs(out).max() / max(1e-12, np.abs(wet).max())
    if rng.random() < 0.25:
        # A phone's small microphone or a thin low register: the fundamental is attenuated.
        sos = butter(2, float(rng.uniform(100.0, 600.0)), "highpass", fs=sample_rate, output="sos")
        out = sosfilt(sos, out)
    pitched = False
    level = rooms.active_rms(out, sample_rate)
    kinds = [str(rng.choice(NOISE_KINDS))]
    if rng.random() < 0.3:
        kinds.append(str(rng.choice(NOISE_KINDS)))
    total = np.zeros_like(out)
    for kind in kinds:
        bank = noises[kind]
        start = int(rng.integers(0, max(1, len(bank) - len(out))))
        excerpt = np.asarray(bank[start : start + len(out)], dtype=np.float64)
        if len(excerpt) < len(out):
            excerpt = np.pad(excerpt, (0, len(out) - len(excerpt)))
        total += excerpt * float(rng.uniform(0.3, 1.0))
        pitched |= kind in PITCHED_NOISES
    snr = float(rng.uniform(*snr_db))
    rms = np.sqrt(np.mean(total**2)) + 1e-12
    out = out + total * level / rms / 10 ** (snr / 20)
    out *= 10 ** (rng.uniform(-30.0, 0.0) / 20) / max(1e-6, np.abs(out).max())
    return Mixed(out.astype(np.float32), reverb, pitched)


def whistle_clip(
    rng: np.random.Generator, *, duration_s: float, sample_rate: int = 16000
) -> tuple[FloatArray, FrameTruth]:
    """Whistled phrases for training: near-sine notes 0.8-4.4 kHz with exact per-frame truth.

    Half the notes carry vibrato (5-60 cents at 3-8 Hz), a third slide (up to 3 semitones),
    a quarter are reached by portamento from the previous note without a break; the 2nd and
    3rd harmonics sit 15-60 dB down and breath noise 15-50 dB down, so the network meets
    whistles from pure to breathy.
    """
    n = round(duration_s * sample_rate)
    frames = int(np.floor(duration_s / HOP_S)) + 1
    t_frames = np.arange(frames) * HOP_S
    truth = FrameTruth.silent(frames)
    f0, voiced, weight, steady = truth.f0_hz, truth.voiced, truth.voicing_weight, truth.steady
    inst = np.zeros(n)
    amp = np.zeros(n)
    low_hz = 800.0 if rng.random() < 0.3 else 1400.0
    t = float(rng.uniform(0.05, 0.4))
    legato = False  # the previous note runs straight into this one
    prev_end_hz = 0.0
    while True:
        length = float(rng.uniform(0.1, 1.0))
        if t + length > duration_s - 0.1:
            break
        base = float(np.exp(rng.uniform(np.log(low_hz), np.log(4400.0))))
        vib = float(rng.uniform(5.0, 60.0)) if rng.random() < 0.5 else 0.0
        rate = float(rng.uniform(3.0, 8.0))
        glide = float(rng.uniform(-300.0, 300.0)) if rng.random() < 0.33 else 0.0
        a, b = round(t * sample_rate), round((t + length) * sample_rate)
        rel = np.arange(b - a) / sample_rate
        cents = vib * np.sin(2 * np.pi * rate * rel) + glide * rel / length
        rel_f = t_frames - t
        inside = (rel_f >= 0) & (rel_f < length)
        cents_f = vib * np.sin(2 * np.pi * rate * rel_f[inside]) + glide * rel_f[inside] / length
        porta = legato and rng.random() < 0.7
        if porta:
            # Slide in from the previous note over 30-80 ms: the truth follows the slide.
            span = float(rng.uniform(0.03, 0.08))
            start_c = 1200 * np.log2(prev_end_hz / base)
            cents = cents + start_c * np.clip(1 - rel / span, 0, 1)
            cents_f = cents_f + start_c * np.clip(1 - rel_f[inside] / span, 0, 1)
        inst[a:b] = base * 2 ** (cents / 1200)
        next_legato = rng.random() < 0.3
        edge = round(float(rng.uniform(0.01, 0.06)) * sample_rate)
        level = float(rng.uniform(0.2, 1.0))
        start_level = amp[a - 1] if legato and a > 0 else 0.0
        env = np.interp(rel, [0, length], rng.uniform(0.5, 1.0, size=2)) * level
        ramp = np.linspace(0, 1, edge)
        env[:edge] = start_level + (env[:edge] - start_level) * ramp
        if not next_legato:
            env[-edge:] *= ramp[::-1]
        amp[a:b] = env
        f0[inside] = base * 2 ** (cents_f / 1200)
        voiced |= inside
        if not legato:
            weight[inside & (rel_f < 0.03)] = 0.0
        if not next_legato:
            weight[inside & (rel_f >= length - 0.03)] = 0.0
        if vib == 0.0 and glide == 0.0 and not porta:
            steady |= inside & (rel_f >= 0.1) & (rel_f < length - 0.05)
        legato = next_legato
        prev_end_hz = float(inst[b - 1])
        t += length if legato else length + float(rng.uniform(0.03, 0.4))
    phase = 2 * np.pi * np.cumsum(inst) / sample_rate
    h2 = 10 ** (-float(rng.uniform(15.0, 50.0)) / 20)
    h3 = 10 ** (-float(rng.uniform(25.0, 60.0)) / 20)
    tone = amp * np.sin(phase)
    tone += amp * h2 * np.sin(2 * phase) * (2 * inst < sample_rate / 2 - 200)
    tone += amp * h3 * np.sin(3 * phase) * (3 * inst < sample_rate / 2 - 200)
    lo = float(rng.uniform(500.0, 1500.0))
    band = butter(2, [lo, min(7500.0, lo * float(rng.uniform(3, 10)))], "bandpass",
                  fs=sample_rate, output="sos")  # fmt: skip
    breath = sosfilt(band, rng.standard_normal(n)) * (0.3 + amp)
    breath *= (
        np.sqrt(np.mean(tone**2))
        / (np.sqrt(np.mean(breath**2)) + 1e-12)
        * 10 ** (-float(rng.uniform(15.0, 50.0)) / 20)
    )
    mix = tone + breath
    audio = 0.5 * mix / max(1e-9, np.abs(mix).max())
    return audio.astype(np.float32), truth
