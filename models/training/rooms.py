"""Real-room material we make ourselves: speech, hum, noise, babble, a TV, and rooms.

Phones record more than the performance: a spoken count-in, a remark, mains hum, a fan, people
talking in the next room, a television, and the room's echo on all of it. The tracker and the
note picking (:mod:`core.plan.performance`) are judged on takes built from these parts around a
rendered performance, so the truth (where the music is, what it plays) stays exact.

Speech comes from espeak-ng (a formant synthesiser with real prosody: its syllables glide like
speech does), every other part from numpy. Rooms are image-source impulse responses from
pyroomacoustics when it is installed (the ``bench`` extra), else a diffuse exponentially
decaying noise tail with the same RT60 (:func:`room_ir` says which it used).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.io import wavfile
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from models.training.synth import HOP_S, FrameTruth

FloatArray = npt.NDArray[np.float32]

COUNT_IN_RU = "раз, два, три"
# Sentences for babble and the TV's presenter: everyday Russian, as a phone in a flat hears it.
SENTENCES_RU = (
    "Сегодня вечером обещали дождь, возьми зонтик.",
    "Ужин будет готов через десять минут.",
    "Ты не видел мои ключи? Они лежали на столе.",
    "В субботу поедем к бабушке на дачу.",
    "Новости спорта: наша команда выиграла со счётом два один.",
    "Погода на завтра: облачно, временами снег.",
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(
    text: str,
    sample_rate: int,
    *,
    voice: str = "ru",
    pitch: int = 50,
    words_per_minute: int = 160,
) -> FloatArray:
    """``text`` spoken by espeak-ng, mono float32 at ``sample_rate``, peak 1.

    ``pitch`` is espeak's 0..99 base-pitch setting (50 a man's voice, 80+ a woman's or child's).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(words_per_minute)]
        subprocess.run([*cmd, "-w", str(out), text], check=True, capture_output=True, timeout=60)
        rate, data = wavfile.read(out)
    audio = data.astype(np.float64) / 32768.0
    if rate != sample_rate:
        g = np.gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // g, rate // g)
    return (audio / max(1e-9, np.abs(audio).max())).astype(np.float32)


def mains_hum(
    n: int, sample_rate: int, *, mains_hz: float = 50.0, harmonics: int = 8
) -> FloatArray:
    """Mains hum: the line frequency and its harmonics falling ~3 dB each, RMS 1.

    A transformer or a badly earthed phone charger hums like this; the odd harmonics of a
    rectifier buzz are as strong as the even ones, so all are kept.
    """
    t = np.arange(n) / sample_rate
    hum = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * mains_hz < sample_rate / 2:
            hum += 10 ** (-3.0 * (k - 1) / 20) * np.sin(2 * np.pi * k * mains_hz * t + 0.7 * k)
    return (hum / np.sqrt(np.mean(hum**2))).astype(np.float32)


def pink_noise(rng: np.random.Generator, n: int) -> FloatArray:
    """1/f noise (room tone, a fan, a fridge), RMS 1."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1.0))
    noise = np.fft.irfft(spec, n)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def _fill(parts: list[FloatArray], n: int, rng: np.random.Generator) -> FloatArray:
    """Parts laid end to end from a random offset (with short pauses), cut to ``n``."""
    out = np.zeros(n, dtype=np.float64)
    t = -int(rng.integers(0, max(1, len(parts[0]))))
    i = 0
    while t < n:
        part = parts[i % len(parts)]
        a, b = max(t, 0), min(t + len(part), n)
        if b > a:
            out[a:b] += part[a - t : b - t]
        t += len(part) + int(rng.integers(len(part) // 20, len(part) // 4 + 1))
        i += 1
    return out.astype(np.float32)


def babble(rng: np.random.Generator, n: int, sample_rate: int, *, voices: int = 4) -> FloatArray:
    """People talking at once (a party, the next room): overlapped espeak-ng voices, RMS 1."""
    out = np.zeros(n, dtype=np.float64)
    for _ in range(voices):
        order = rng.permutation(len(SENTENCES_RU))
        pitch = int(rng.integers(25, 90))
        wpm = int(rng.integers(140, 190))
        parts = [speech(SENTENCES_RU[i], sample_rate, pitch=pitch, words_per_minute=wpm)
                 for i in order[:3]]  # fmt: skip
        out += _fill(parts, n, rng)
    return (out / max(1e-9, np.sqrt(np.mean(out**2)))).astype(np.float32)


def tv(rng: np.random.Generator, n: int, sample_rate: int) -> FloatArray:
    """A television: a presenter over a music bed (chords of harmonic tones), RMS 1."""
    parts = [speech(s, sample_rate, pitch=int(rng.integers(30, 80))) for s in SENTENCES_RU[:4]]
    voice = _fill(parts, n, rng).astype(np.float64)
    t = np.arange(n) / sample_rate
    bed = np.zeros(n)
    chord_s = 2.0
    for c in range(int(np.ceil(n / sample_rate / chord_s))):
        root = float(rng.choice([48, 50, 53, 55, 57]))
        a, b = round(c * chord_s * sample_rate), min(n, round((c + 1) * chord_s * sample_rate))
        for interval in (0, 4, 7, 12):
            f = 440.0 * 2 ** ((root + interval - 69) / 12)
            for k in range(1, 6):
                bed[a:b] += np.sin(2 * np.pi * k * f * t[a:b]) / k**1.5
    bed /= np.sqrt(np.mean(bed**2)) + 1e-12
    voice /= np.sqrt(np.mean(voice**2)) + 1e-12
    mix = voice + 10 ** (-6.0 / 20) * bed  # the presenter 6 dB over the bed
    return (mix / np.sqrt(np.mean(mix**2))).astype(np.float32)


def active_rms(
    audio: npt.NDArray[np.floating], sample_rate: int, *, floor_db: float = -40.0
) -> float:
    """RMS over the 20 ms blocks within ``floor_db`` of the loudest: the level while it plays.

    SNR is quoted against this, not against the whole take's RMS, so a take with long rests is
    not called cleaner than it sounds while the music plays.
    """
    x = np.asarray(audio, dtype=np.float64)
    block = max(1, round(0.02 * sample_rate))
    m = len(x) // block
    if m == 0:
        return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    power = np.mean(x[: m * block].reshape(m, block) ** 2, axis=1)
    keep = power >= power.max() * 10 ** (floor_db / 10)
    return float(np.sqrt(np.mean(power[keep])))


def mix_at_snr(
    signal: npt.NDArray[np.floating],
    noise: npt.NDArray[np.floating],
    snr_db: float,
    sample_rate: int,
) -> FloatArray:
    """``signal + noise`` with the noise's RMS ``snr_db`` below the signal's active RMS."""
    s = np.asarray(signal, dtype=np.float64)
    v = np.asarray(noise, dtype=np.float64)[: len(s)]
    gain = active_rms(s, sample_rate) / (np.sqrt(np.mean(v**2)) + 1e-12) / 10 ** (snr_db / 20)
    return (s + gain * v).astype(np.float32)


@dataclass(frozen=True)
class Room:
    """A shoebox room: size (m), where the player and the phone stand, and its RT60 (s)."""

    name: str
    size_m: tuple[float, float, float]
    source_m: tuple[float, float, float]
    mic_m: tuple[float, float, float]
    rt60_s: float


# The phone 1.2-2 m from the player (on a stand or a music desk), as people film themselves.
ROOMS = (
    Room("bedroom", (3.2, 3.8, 2.6), (1.1, 1.4, 1.3), (2.0, 2.2, 1.1), 0.3),
    Room("living room", (5.5, 4.2, 2.7), (1.5, 2.0, 1.4), (3.0, 2.3, 1.0), 0.6),
    Room("classroom", (8.0, 6.5, 3.2), (2.0, 3.0, 1.5), (3.8, 3.4, 1.2), 0.9),
    Room("hall", (14.0, 10.0, 5.0), (3.0, 5.0, 1.6), (5.0, 5.3, 1.3), 1.2),
)


def room_ir(room: Room, sample_rate: int, *, seed: int = 0) -> tuple[FloatArray, str]:
    """The room's impulse response from the player to the phone, direct path first, peak 1.

    pyroomacoustics' image-source model with Sabine absorption for the RT60 when installed;
    otherwise (``"diffuse"``) a direct path plus an exponentially decaying noise tail with the
    same RT60 and a direct-to-reverberant ratio from the source-mic distance.
    """
    try:
        import pyroomacoustics as pra
    except ImportError:
        return _diffuse_ir(room, sample_rate, seed), "diffuse"
    absorption, max_order = pra.inverse_sabine(room.rt60_s, list(room.size_m))
    shoebox = pra.ShoeBox(
        list(room.size_m),
        fs=sample_rate,
        materials=pra.Material(absorption),
        max_order=min(max_order, 40),
    )
    shoebox.add_source(list(room.source_m))
    shoebox.add_microphone(list(room.mic_m))
    shoebox.compute_rir()
    ir = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    first = int(np.argmax(np.abs(ir) > 0.5 * np.abs(ir).max()))
    ir = ir[max(0, first - 8) :]  # keep the direct path's filter skirt, drop the flight time
    return (ir / np.abs(ir).max()).astype(np.float32), "image source"


def _diffuse_ir(room: Room, sample_rate: int, seed: int) -> FloatArray:
    rng = np.random.default_rng(seed)
    length = round(room.rt60_s * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / room.rt60_s)
    distance = float(np.linalg.norm(np.subtract(room.source_m, room.mic_m)))
    volume = float(np.prod(room.size_m))
    # Critical distance (Sabine): where direct and reverberant energy are equal.
    critical = 0.057 * np.sqrt(volume / room.rt60_s)
    tail *= (distance / critical) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return (tail / np.abs(tail).max()).astype(np.float32)


def reverberate(audio: npt.NDArray[np.floating], ir: npt.NDArray[np.floating]) -> FloatArray:
    """``audio`` through the room, same length (the tail past the end is cut), same peak."""
    x = np.asarray(audio, dtype=np.float64)
    wet = fftconvolve(x, np.asarray(ir, dtype=np.float64))[: len(x)]
    return (wet * np.abs(x).max() / max(1e-12, np.abs(wet).max())).astype(np.float32)


@dataclass(frozen=True)
class Scene:
    """A take with a performance in it: the audio and where the performance starts and ends."""

    audio: FloatArray
    music_start_s: float
    music_end_s: float


def count_in_scene(
    music: npt.NDArray[np.floating],
    sample_rate: int,
    *,
    seed: int = 0,
    speech_db: float = -12.0,
    hum_db: float = -35.0,
    noise_db: float = -45.0,
    mains_hz: float = 50.0,
    lead_s: float = 0.4,
    gap_s: float = 0.5,
    tail_s: float = 1.5,
) -> Scene:
    """A phone take of ``music``: a quiet spoken count-in before it, a remark after it, and
    mains hum and room noise all along; levels in dB against the music's active RMS.

    The music keeps its samples (it is added to, never scaled), so the same music without the
    background is ``music`` itself, padded by :attr:`Scene.music_start_s`.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(music, dtype=np.float64)
    level = active_rms(x, sample_rate)
    count = speech(COUNT_IN_RU, sample_rate, pitch=int(rng.integers(40, 70)))
    remark = speech("ну как, нормально?", sample_rate, pitch=int(rng.integers(40, 70)))
    start = round((lead_s + gap_s) * sample_rate) + len(count)
    n = start + len(x) + round(tail_s * sample_rate) + len(remark)
    out = np.zeros(n)
    out[start : start + len(x)] += x
    a = round(lead_s * sample_rate)
    out[a : a + len(count)] += (
        count * level / active_rms(count, sample_rate) * 10 ** (speech_db / 20)
    )
    b = start + len(x) + round(0.5 * sample_rate)
    out[b : b + len(remark)] += (
        remark * level / active_rms(remark, sample_rate) * 10 ** (speech_db / 20)
    )
    out += mains_hum(n, sample_rate, mains_hz=mains_hz) * level * 10 ** (hum_db / 20)
    out += pink_noise(rng, n) * level * 10 ** (noise_db / 20)
    return Scene(out.astype(np.float32), start / sample_rate, (start + len(x)) / sample_rate)


def whistle_phrase(
    rng: np.random.Generator,
    *,
    duration_s: float,
    sample_rate: int = 16000,
    low_hz: float = 1500.0,
    high_hz: float = 4000.0,
) -> tuple[FloatArray, FrameTruth]:
    """Whistling: near-sine notes (a 2nd harmonic 30 dB down, breath noise 35 dB down) with
    vibrato on half of them and slides on a third, with exact per-frame truth.

    Whistled tunes live at 1-4 kHz, above most instruments' fundamentals; the breath makes the
    background hiss that a whistle always carries.
    """
    n = round(duration_s * sample_rate)
    frames = int(np.floor(duration_s / HOP_S)) + 1
    t_frames = np.arange(frames) * HOP_S
    truth = FrameTruth.silent(frames)
    f0, voiced, weight, steady = truth.f0_hz, truth.voiced, truth.voicing_weight, truth.steady
    inst = np.zeros(n)  # instantaneous frequency per sample, 0 in rests
    amp = np.zeros(n)
    t = float(rng.uniform(0.05, 0.3))
    while True:
        length = float(rng.uniform(0.2, 0.8))
        if t + length > duration_s - 0.1:
            break
        base = float(np.exp(rng.uniform(np.log(low_hz), np.log(high_hz))))
        vib = float(rng.uniform(10.0, 40.0)) if rng.random() < 0.5 else 0.0
        rate = float(rng.uniform(4.0, 7.0))
        glide = float(rng.uniform(-200.0, 200.0)) if rng.random() < 0.33 else 0.0

        shape = (t, length, vib, rate, glide)
        a, b = round(t * sample_rate), round((t + length) * sample_rate)
        ts = np.arange(a, b) / sample_rate
        inst[a:b] = base * 2 ** (_whistle_cents(ts, *shape) / 1200)
        edge = round(0.02 * sample_rate)
        env = np.ones(b - a)
        env[:edge] = np.linspace(0, 1, edge)
        env[-edge:] = np.linspace(1, 0, edge)
        amp[a:b] = env * float(rng.uniform(0.3, 1.0))
        inside = (t_frames >= t) & (t_frames < t + length)
        f0[inside] = base * 2 ** (_whistle_cents(t_frames[inside], *shape) / 1200)
        voiced |= inside
        weight[inside & ((t_frames < t + 0.03) | (t_frames >= t + length - 0.03))] = 0.0
        if vib == 0.0 and glide == 0.0:
            steady |= (t_frames >= t + 0.1) & (t_frames < t + length - 0.05)
        t += length + float(rng.uniform(0.05, 0.3))
    phase = 2 * np.pi * np.cumsum(inst) / sample_rate
    tone = amp * (np.sin(phase) + 10 ** (-30 / 20) * np.sin(2 * phase))
    breath = sosfilt(butter(2, [1000.0, 6000.0], "bandpass", fs=sample_rate, output="sos"),
                     rng.standard_normal(n))  # fmt: skip
    breath *= np.sqrt(np.mean(tone**2)) / (np.sqrt(np.mean(breath**2)) + 1e-12) * 10 ** (-35 / 20)
    audio = 0.5 * (tone + breath) / max(1e-9, np.abs(tone + breath).max())
    return audio.astype(np.float32), truth


def _whistle_cents(
    x: npt.NDArray[np.floating],
    onset: float,
    length: float,
    vibrato: float,
    rate: float,
    glide: float,
) -> npt.NDArray[np.float64]:
    """A whistled note's pitch around its base (cents): vibrato plus a linear slide."""
    rel = np.asarray(x, dtype=np.float64) - onset
    return vibrato * np.sin(2 * np.pi * rate * rel) + glide * rel / length
