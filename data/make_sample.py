"""Make data/sample/sample.mp4: a short flute melody, some notes out of tune, with a picture.

Run from the repository root: ``python data/make_sample.py`` (needs fluidsynth and the FluidR3
soundfont: Debian ``fluidsynth fluid-soundfont-gm``). The same MIDI + fluidsynth helpers render
the benchmark's held-out set (bench/retune.py), so both speak the same note list.

Why a rendered clip rather than a recording: the sample ships in the repository, so it must be
small and free to redistribute, and its wrong notes must be known in advance (the README's demo
shows them being fixed). FluidR3's flute is a real sampled instrument, not a synthetic tone.
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.synth import midi_varlen

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SAMPLE_RATE = 44100  # Hz
TICKS_PER_S = 960  # 480 ticks per beat at the default 120 bpm
BEND_RANGE_CENTS = 200.0  # fluidsynth's default pitch-bend range (+-2 semitones)
BEND_RATE_HZ = 100.0  # pitch-bend messages per second when drawing vibrato
FLUTE_PROGRAM = 73  # General MIDI 74 "Flute", zero-based


@dataclass(frozen=True)
class MelodyNote:
    """One note to render; ``detune_cents`` via pitch bend, vibrato as a sine of bends."""

    midi: int
    start_s: float
    duration_s: float
    detune_cents: float = 0.0
    vibrato_cents: float = 0.0  # half peak-to-peak
    vibrato_hz: float = 5.5
    velocity: int = 90


def _bend_value(cents: float) -> int:
    return int(np.clip(round(8192 + cents / BEND_RANGE_CENTS * 8192), 0, 16383))


def midi_file_bytes(notes: list[MelodyNote], *, program: int = FLUTE_PROGRAM) -> bytes:
    """A format-0 Standard MIDI File for a monophonic melody on channel 0."""
    events: list[tuple[int, int, bytes]] = [(0, 0, bytes([0xC0, program]))]
    for note in notes:
        on = round(note.start_s * TICKS_PER_S)
        off = round((note.start_s + note.duration_s) * TICKS_PER_S)
        bend0 = _bend_value(note.detune_cents)
        events.append((max(0, on - 2), 1, bytes([0xE0, bend0 & 0x7F, bend0 >> 7])))
        if note.vibrato_cents > 0:
            n_steps = int(note.duration_s * BEND_RATE_HZ)
            for k in range(1, n_steps):
                t = k / BEND_RATE_HZ
                cents = note.detune_cents + note.vibrato_cents * np.sin(
                    2 * np.pi * note.vibrato_hz * t
                )
                value = _bend_value(float(cents))
                events.append(
                    (on + round(t * TICKS_PER_S), 1, bytes([0xE0, value & 0x7F, value >> 7]))
                )
        events.append((on, 2, bytes([0x90, note.midi, note.velocity])))
        events.append((off, 0, bytes([0x80, note.midi, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track = bytearray()
    now = 0
    for tick, _order, data in events:
        track += midi_varlen(tick - now) + data
        now = tick
    track += midi_varlen(TICKS_PER_S) + bytes([0xFF, 0x2F, 0x00])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_S // 2)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render(
    notes: list[MelodyNote],
    wav_path: Path,
    *,
    program: int = FLUTE_PROGRAM,
    soundfont: Path = SOUNDFONT,
    sample_rate: int = SAMPLE_RATE,
) -> None:
    """Render with fluidsynth, no reverb or chorus (they would smear the pitch truth)."""
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "melody.mid"
        mid.write_bytes(midi_file_bytes(notes, program=program))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.8", "-F", str(wav_path),
             "-r", str(sample_rate), str(soundfont), str(mid)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


# A phrase of "Ode to Joy" in D major, flute register; a few notes sharp or flat by 25-40 cents
# (what an unsteady embouchure does), two long notes with vibrato.
_TUNE = [
    (78, 0.5, 0.0), (78, 0.5, 30.0), (79, 0.5, 0.0), (81, 0.5, -35.0),
    (81, 0.5, 0.0), (79, 0.5, 0.0), (78, 0.5, 40.0), (76, 0.5, 0.0),
    (74, 0.5, -25.0), (74, 0.5, 0.0), (76, 0.5, 0.0), (78, 0.5, 30.0),
    (78, 0.75, -30.0), (76, 0.25, 0.0), (76, 1.0, 35.0),
]  # fmt: skip
_VIBRATO = {12: 15.0, 14: 15.0}  # note index -> vibrato half extent, cents


def sample_melody(*, lead_in_s: float = 0.4, gap_s: float = 0.04) -> list[MelodyNote]:
    notes = []
    t = lead_in_s
    for i, (midi, beats, detune) in enumerate(_TUNE):
        duration = beats * 1.2  # 0.6 s per crotchet (100 bpm)
        notes.append(
            MelodyNote(
                midi=midi,
                start_s=round(t, 3),
                duration_s=round(duration - gap_s, 3),
                detune_cents=detune,
                vibrato_cents=_VIBRATO.get(i, 0.0),
            )
        )
        t += duration
    return notes


def make_sample(out_path: Path, *, ffmpeg: str | None = None) -> None:
    """Render the melody and mux it with a small generated H.264 picture into ``out_path``."""
    if ffmpeg is None:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    notes = sample_melody()
    duration_s = notes[-1].start_s + notes[-1].duration_s + 0.8
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "melody.wav"
        render(notes, wav)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=15:duration={duration_s:.2f}",
             "-i", str(wav),
             "-map", "0:v", "-map", "1:a", "-af", "pan=mono|c0=0.5*c0+0.5*c1",
             "-c:v", "libx264", "-preset", "veryslow", "-crf", "30", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "96k", "-ar", str(SAMPLE_RATE),
             "-t", f"{duration_s:.2f}", "-movflags", "+faststart",
             "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
             "-flags:a", "+bitexact", str(out_path)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", default=str(Path(__file__).resolve().parent / "sample" / "sample.mp4")
    )
    args = parser.parse_args()
    make_sample(Path(args.output))
    print(f"wrote {args.output} ({Path(args.output).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
