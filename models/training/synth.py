"""Training and evaluation audio we make ourselves, with frame-exact pitch truth.

Two sources:

* **Harmonic tones** (:func:`synthetic_phrase`): numpy additive synthesis with random spectra,
  vibrato, glides and rests. The truth is exact by construction; used for tests and as a small
  share of training data.
* **Sampled instruments** (:func:`render_phrase`): a random monophonic phrase written as a
  standard MIDI file and rendered by fluidsynth from a General MIDI soundfont. Detune, vibrato
  and glides are pitch-bend messages we wrote, so the truth is ``note + bend`` plus the
  soundfont sample's own tuning error, which :func:`calibrate_notes` measures on a bend-free
  render (soundfont samples are a few cents off; the note number alone is not the truth).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from scipy.io import wavfile
from scipy.signal import butter, sosfilt

from models.decode import refine_f0_hz

HOP_S = 0.01  # s
RENDER_RATE = 44100  # Hz
TICKS_PER_SECOND = 1000  # MIDI division 1000 ticks/beat at 1 s/beat: 1 tick = 1 ms
BEND_RANGE_CENTS = 200.0  # General MIDI default pitch-bend range
BEND_STEP_S = 0.01  # s between pitch-bend messages of a vibrato or glide

FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TIMGM6MB = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")

# General MIDI program -> comfortable MIDI range of the melody instruments we care about.
MELODY_PROGRAMS: dict[int, tuple[int, int]] = {
    73: (60, 96),  # flute
    74: (60, 91),  # recorder
    75: (60, 93),  # pan flute
    78: (62, 93),  # whistle
    79: (60, 89),  # ocarina
    68: (58, 89),  # oboe
    69: (52, 81),  # english horn
    71: (50, 89),  # clarinet
    70: (36, 72),  # bassoon
    40: (55, 96),  # violin
    41: (48, 84),  # viola
    42: (36, 76),  # cello
    56: (54, 84),  # trumpet
    57: (40, 72),  # trombone
    60: (41, 77),  # french horn
    64: (56, 87),  # soprano sax
    65: (49, 81),  # alto sax
    66: (44, 76),  # tenor sax
    52: (48, 79),  # choir aahs
    53: (48, 79),  # voice oohs
    54: (48, 79),  # synth voice
    22: (60, 84),  # harmonica
}

FloatArray = npt.NDArray[np.float32]


@dataclass
class Note:
    onset_s: float
    offset_s: float
    midi: int
    detune_cents: int
    vibrato_cents: float = 0.0
    vibrato_hz: float = 5.5
    glide_cents: int = 0  # bend reached linearly at the end of the note
    velocity: int = 90


@dataclass
class Phrase:
    notes: list[Note]
    duration_s: float
    program: int = 73
    calibration_cents: dict[int, float] = field(default_factory=dict)
    # Per note (same order as ``notes``): cents off equal temperament on each 10 ms frame from
    # its onset, measured on a bend-free render (see calibrate_phrase). Wins over the above.
    calibration_curves: list[npt.NDArray[np.float64]] = field(default_factory=list)


def random_phrase(
    rng: np.random.Generator,
    *,
    low_midi: int,
    high_midi: int,
    duration_s: float,
    program: int = 73,
    steady: bool = False,
) -> Phrase:
    """A monophonic line: mostly stepwise, some leaps and rests; ``steady`` disables bends."""
    notes: list[Note] = []
    t = float(rng.uniform(0.05, 0.4))
    midi = int(rng.integers(low_midi, high_midi + 1))
    while True:
        length = float(rng.uniform(0.12, 1.2))
        if t + length > duration_s - 0.3:
            break
        # A third of the notes are bend-free: fluidsynth's bends are off by up to ~1.3 cents, so
        # only these carry truth precise enough for the steady-note metric.
        clean = steady or rng.random() < 0.35
        detune = 0 if clean else int(rng.integers(-50, 51))
        vib = 0.0 if clean or rng.random() > 0.4 else float(rng.uniform(8, 60))
        glide = 0 if clean or rng.random() > 0.15 else int(rng.integers(-100, 101))
        if abs(detune) + vib + abs(glide) > 190:
            glide = 0
        notes.append(
            Note(
                onset_s=t,
                offset_s=t + length,
                midi=midi,
                detune_cents=detune,
                vibrato_cents=vib,
                vibrato_hz=float(rng.uniform(4.0, 7.0)),
                glide_cents=glide,
                velocity=int(rng.integers(45, 127)),
            )
        )
        t += length
        if rng.random() < 0.3:
            t += float(rng.uniform(0.05, 0.7))
        step = int(rng.choice([-12, -7, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 12]))
        midi = int(np.clip(midi + step, low_midi, high_midi))
    return Phrase(notes=notes, duration_s=duration_s, program=program)


def bend_cents_at(note: Note, t_s: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """The bend (cents, before fluidsynth's rounding) a note asks for at times ``t_s``."""
    rel = np.clip(t_s - note.onset_s, 0.0, None)
    frac = np.clip(rel / max(note.offset_s - note.onset_s, 1e-3), 0.0, 1.0)
    return (
        note.detune_cents
        + note.vibrato_cents * np.sin(2 * np.pi * note.vibrato_hz * rel)
        + note.glide_cents * frac
    )


def _bend_value(cents: float) -> int:
    return int(np.clip(round(8192 + cents / BEND_RANGE_CENTS * 8192), 0, 16383))


def _value_to_cents(value: int) -> float:
    # The bend the 14-bit value encodes. fluidsynth renders it within ~1.3 cents (measured), so
    # bent frames count for RPA but never for the steady-note metric.
    return (value - 8192) / 8192 * BEND_RANGE_CENTS


def midi_varlen(value: int) -> bytes:
    """A Standard MIDI File variable-length quantity (7 bits a byte, high bit = more)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def phrase_events(phrase: Phrase) -> list[tuple[int, bytes]]:
    """(tick, MIDI bytes) on channel 0; bends every 10 ms while a note moves."""
    events: list[tuple[int, bytes]] = [(0, bytes([0xC0, phrase.program & 0x7F]))]
    events.append((0, bytes([0xB0, 7, 110])))
    for note in phrase.notes:
        on = round(note.onset_s * TICKS_PER_SECOND)
        off = round(note.offset_s * TICKS_PER_SECOND)
        moving = note.vibrato_cents > 0 or note.glide_cents != 0
        # Bends live in [on, off): a note's last vibrato step can never leak into the next note.
        ticks = range(on, off, round(BEND_STEP_S * TICKS_PER_SECOND)) if moving else [on]
        for tick in ticks:
            t = np.array([tick / TICKS_PER_SECOND])
            value = _bend_value(float(bend_cents_at(note, t)[0]))
            events.append((tick, bytes([0xE0, value & 0x7F, value >> 7])))
        events.append((on, bytes([0x90, note.midi, note.velocity])))
        events.append((off, bytes([0x80, note.midi, 0])))
    # Stable sort: note-offs before the next note-on at the same tick (0x80 < 0x90 < 0xE0).
    events.sort(key=lambda e: (e[0], {0x80: 0, 0xC0: 1, 0xB0: 1, 0xE0: 2, 0x90: 3}[e[1][0] & 0xF0]))
    end = round(phrase.duration_s * TICKS_PER_SECOND)
    events.append((end, bytes([0xB0, 123, 0])))
    return events


def write_midi(phrase: Phrase, path: Path) -> None:
    """A format-0 standard MIDI file, 1 tick = 1 ms."""
    track = bytearray(b"\x00\xff\x51\x03\x0f\x42\x40")  # tempo: 1,000,000 us per beat
    last = 0
    for tick, data in phrase_events(phrase):
        track += midi_varlen(tick - last) + data
        last = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_SECOND)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))


def fluidsynth_available() -> bool:
    return shutil.which("fluidsynth") is not None


def render_midi(
    midi_path: Path, soundfont: Path, sample_rate: int = RENDER_RATE, *, stereo: bool = False
) -> FloatArray:
    """Render with fluidsynth (reverb and chorus off: we add our own room later).

    Mono ``[samples]`` for training; ``stereo`` keeps fluidsynth's two channels ``[samples, 2]``
    (the soundfont's own stereo samples), for clips that should cost what a real stereo
    recording costs to encode.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.8"]
        cmd += ["-F", str(out), "-r", str(sample_rate), str(soundfont), str(midi_path)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        rate, data = wavfile.read(out)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, asked for {sample_rate}")
    audio = data.astype(np.float32)
    if data.dtype == np.int16:
        audio /= 32768.0
    if stereo:
        return audio if audio.ndim == 2 else np.stack([audio, audio], axis=1)
    return audio.mean(axis=1) if audio.ndim == 2 else audio


def render_phrase(
    phrase: Phrase, soundfont: Path, sample_rate: int = RENDER_RATE, *, stereo: bool = False
) -> FloatArray:
    """``phrase.duration_s`` of it (cut or padded with silence); see :func:`render_midi`."""
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = Path(tmp) / "phrase.mid"
        write_midi(phrase, midi_path)
        audio = render_midi(midi_path, soundfont, sample_rate, stereo=stereo)
    n = round(phrase.duration_s * sample_rate)
    if audio.shape[0] >= n:
        audio = audio[:n]
    else:
        audio = np.pad(audio, [(0, n - audio.shape[0])] + [(0, 0)] * (audio.ndim - 1))
    return audio.astype(np.float32)


def calibrate_phrase(
    phrase: Phrase, soundfont: Path, *, gap_s: float = 0.6
) -> list[npt.NDArray[np.float64]]:
    """Per-note, per-frame tuning of the soundfont's own samples.

    Sampled instruments drift within a note (FluidR3's flute by up to ~10 cents between attack
    and sustain), so one number per note is not enough for a 3-cent metric. Every note of the
    phrase is rendered again on its own -- same key, velocity and length, no bend -- and its
    pitch is measured on every 10 ms frame with the NCCF lag search at 44.1 kHz (40 ms window,
    lags >= 12 ms: about 0.1 cent on a steady tone). Frames the measurement is unsure of
    (periodicity < 0.8: the attack, or a sample that has already died away) are NaN, and
    :func:`phrase_truth` leaves them out of scoring.
    """
    alone: list[Note] = []
    t = 0.2
    for note in phrase.notes:
        length = note.offset_s - note.onset_s
        alone.append(Note(t, t + length, note.midi, 0, velocity=note.velocity))
        t += length + gap_s
    audio = torch.from_numpy(
        render_phrase(Phrase(alone, t + 0.2, phrase.program), soundfont)
    ).double()
    curves = []
    for note in alone:
        nominal = 440.0 * 2 ** ((note.midi - 69) / 12)
        n = int(np.ceil((note.offset_s - note.onset_s) / HOP_S)) + 1
        centers = torch.from_numpy(
            np.round((note.onset_s + np.arange(n) * HOP_S) * RENDER_RATE).astype(np.int64)
        )
        f0, per = refine_f0_hz(
            audio,
            centers,
            torch.full((n,), nominal),
            sample_rate=RENDER_RATE,
            window_s=0.04,
            min_lag_s=0.012,
            search_cents=60.0,
            # The truth as it was always measured (an edge lag has periodicity < 0.8 anyway).
            keep_coarse_at_edge=False,
        )
        cents = 1200 * np.log2(f0.numpy() / nominal)
        curves.append(np.where(per.numpy() >= 0.8, cents, np.nan))
    return curves


@dataclass
class FrameTruth:
    """Per 10 ms frame: f0 (NaN when no note), voiced flag, and masks for the losses."""

    f0_hz: npt.NDArray[np.float64]
    voiced: npt.NDArray[np.bool_]
    voicing_weight: npt.NDArray[np.float32]  # 0 on ambiguous frames (attacks, release tails)
    steady: npt.NDArray[np.bool_]  # no bend movement, away from note edges

    @classmethod
    def silent(cls, frames: int) -> FrameTruth:
        """Nothing sounding on ``frames`` frames (every one weighed): the arrays a generator
        fills in place note by note."""
        return cls(
            np.full(frames, np.nan),
            np.zeros(frames, bool),
            np.ones(frames, np.float32),
            np.zeros(frames, bool),
        )


def phrase_truth(phrase: Phrase, *, tail_s: float = 0.25) -> FrameTruth:
    n = int(np.floor(phrase.duration_s / HOP_S)) + 1
    t = np.arange(n) * HOP_S
    truth = FrameTruth.silent(n)
    f0, voiced, weight, steady = truth.f0_hz, truth.voiced, truth.voicing_weight, truth.steady
    for i, note in enumerate(phrase.notes):
        in_note = (t >= note.onset_s) & (t < note.offset_s)
        tail = (t >= note.offset_s) & (t < note.offset_s + tail_s)
        weight[tail & ~voiced] = 0.0
        cents = np.array([_value_to_cents(_bend_value(c)) for c in bend_cents_at(note, t[in_note])])
        cal: float | npt.NDArray[np.float64] = phrase.calibration_cents.get(note.midi, 0.0)
        unsure = np.zeros(int(in_note.sum()), bool)
        if phrase.calibration_curves:
            curve = phrase.calibration_curves[i]
            since = np.round((t[in_note] - note.onset_s) / HOP_S).astype(int)
            cal = curve[np.clip(since, 0, len(curve) - 1)]
            unsure = np.isnan(cal)
            fill = float(np.nanmedian(curve)) if np.isfinite(curve).any() else 0.0
            cal = np.where(unsure, fill, cal)
        f0[in_note] = 440.0 * 2 ** ((note.midi - 69 + (cents + cal) / 100.0) / 12.0)
        voiced[in_note] = True
        weight[in_note] = 1.0
        attack = (t >= note.onset_s) & (t < note.onset_s + 0.03)
        weight[attack] = 0.0
        if phrase.calibration_curves:
            weight[np.flatnonzero(in_note)[unsure]] = 0.0
        still = note.detune_cents == 0 and note.vibrato_cents == 0 and note.glide_cents == 0
        if still:
            steady |= (t >= note.onset_s + 0.1) & (t < note.offset_s - 0.05)
    return truth


def synthetic_phrase(
    rng: np.random.Generator,
    *,
    duration_s: float,
    sample_rate: int = 16000,
    low_midi: int = 36,
    high_midi: int = 96,
) -> tuple[FloatArray, FrameTruth]:
    """Additive harmonic tones with exact truth (random spectra, vibrato, rests)."""
    phrase = random_phrase(rng, low_midi=low_midi, high_midi=high_midi, duration_s=duration_s)
    n = round(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    audio = np.zeros(n)
    for note in phrase.notes:
        a, b = round(note.onset_s * sample_rate), min(n, round(note.offset_s * sample_rate))
        tt = t[a:b]
        cents = bend_cents_at(note, tt)
        # The same 14-bit quantization phrase_truth applies, so the truth is exact here.
        cents = (np.clip(np.round(8192 + cents / BEND_RANGE_CENTS * 8192), 0, 16383) - 8192) * (
            BEND_RANGE_CENTS / 8192
        )
        f0 = 440.0 * 2 ** ((note.midi - 69 + cents / 100.0) / 12.0)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        n_harm = int(rng.integers(1, 12))
        slope = rng.uniform(0.3, 0.95)
        # Real low flute and voice notes can have a fundamental far below the 2nd harmonic:
        # the network must read the odd partials' spacing, not the loudest partial.
        weak_fundamental = rng.uniform(0.02, 0.3) if rng.random() < 0.3 else 1.0
        env = np.minimum(1.0, np.minimum((tt - tt[0]) / 0.02, (tt[-1] - tt + 1e-3) / 0.02))
        tone = np.zeros_like(tt)
        for h in range(1, n_harm + 1):
            if f0.max() * h < sample_rate / 2 - 200:
                amp = slope ** (h - 1) * rng.uniform(0.3, 1.0) * (weak_fundamental if h == 1 else 1)
                tone += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
        audio[a:b] += env * tone * (note.velocity / 127.0) / max(1.0, np.abs(tone).max())
    truth = phrase_truth(phrase, tail_s=0.03)
    return (0.5 * audio).astype(np.float32), truth


def augment(
    rng: np.random.Generator, audio: FloatArray, sample_rate: int
) -> tuple[FloatArray, bool]:
    """Random gain, room (exponentially decaying noise impulse response) and background noise.

    Returns the audio and whether a room was added (its tail makes note ends ambiguous).
    """
    out = audio.astype(np.float64)
    if rng.random() < 0.4:
        # A small speaker, a phone mic or a thin low register: the fundamental is attenuated.
        cutoff = rng.uniform(150.0, 1000.0)
        sos = butter(int(rng.choice([2, 4])), cutoff, "highpass", fs=sample_rate, output="sos")
        out = sosfilt(sos, out)
    reverb = rng.random() < 0.4
    if reverb:
        rt60 = rng.uniform(0.15, 1.0)
        length = round(rt60 * sample_rate)
        tt = np.arange(length) / sample_rate
        ir = rng.standard_normal(length) * np.exp(-6.9 * tt / rt60)
        ir[0] = 0.0
        ir *= rng.uniform(0.05, 0.4) / np.sqrt(np.sum(ir**2))
        wet = np.fft.irfft(
            np.fft.rfft(out, len(out) + length) * np.fft.rfft(ir, len(out) + length)
        )[: len(out)]
        out = out + wet
    if rng.random() < 0.75:
        noise = rng.standard_normal(len(out))
        color = rng.choice(["white", "pink", "brown"])
        if color != "white":
            spec = np.fft.rfft(noise)
            f = np.maximum(np.arange(len(spec)), 1.0)
            spec /= np.sqrt(f) if color == "pink" else f
            noise = np.fft.irfft(spec, len(noise))
        rms_sig = np.sqrt(np.mean(out**2)) + 1e-9
        snr_db = rng.uniform(5.0, 45.0)
        noise *= rms_sig / (np.sqrt(np.mean(noise**2)) + 1e-12) / 10 ** (snr_db / 20)
        out = out + noise
    out *= 10 ** (rng.uniform(-30.0, 0.0) / 20) / max(1e-6, np.abs(out).max())
    return out.astype(np.float32), reverb


def noise_clip(
    rng: np.random.Generator, *, duration_s: float, sample_rate: int = 16000
) -> tuple[FloatArray, FrameTruth]:
    """Nothing to track: silence, hiss, breath-like band noise and clicks at any level.

    Without these the network only ever met noise underneath notes, and called loud noise
    "voiced" (a breath, a fan, a handling noise would become notes).
    """
    n = round(duration_s * sample_rate)
    out = np.zeros(n)
    t = 0
    while t < n:
        length = min(n - t, round(rng.uniform(0.2, 3.0) * sample_rate))
        kind = rng.choice(["silence", "white", "pink", "brown", "band", "clicks"])
        seg = rng.standard_normal(length)
        if kind in ("pink", "brown"):
            spec = np.fft.rfft(seg)
            f = np.maximum(np.arange(len(spec)), 1.0)
            seg = np.fft.irfft(spec / (np.sqrt(f) if kind == "pink" else f), length)
        elif kind == "band":
            lo = rng.uniform(100.0, 2000.0)
            hi = min(lo * rng.uniform(1.5, 8.0), sample_rate / 2 - 100)
            seg = sosfilt(butter(2, [lo, hi], "bandpass", fs=sample_rate, output="sos"), seg)
        elif kind == "clicks":
            seg = np.zeros(length)
            where = rng.integers(0, length, size=int(rng.integers(1, 20)))
            seg[where] = rng.uniform(-1, 1, size=len(where))
        elif kind == "silence":
            seg = seg * 1e-5
        env = np.interp(np.arange(length), np.linspace(0, length, 6), rng.uniform(0.1, 1.0, size=6))
        seg = seg * env / max(1e-9, np.abs(seg).max()) * 10 ** (rng.uniform(-50.0, 0.0) / 20)
        out[t : t + length] = seg
        t += length
    frames = int(np.floor((n - 1) / sample_rate / HOP_S)) + 1
    return out.astype(np.float32), FrameTruth.silent(frames)
