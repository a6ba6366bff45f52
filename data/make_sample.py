"""Make data/sample/sample.mp4: a short flute melody, some notes out of tune, with a picture.

Run from the repository root: ``python data/make_sample.py`` (needs fluidsynth and the FluidR3
soundfont: Debian ``fluidsynth fluid-soundfont-gm``). The notes are rendered by
models.training.synth, the
same MIDI + fluidsynth path that makes the training data and the retuning benchmark's held-out
set (bench/retune.py).

Why a rendered clip rather than a recording: the sample ships in the repository, so it must be
small and free to redistribute, and its wrong notes must be known in advance (the README's demo
shows them being fixed). FluidR3's flute is a real sampled instrument, not a synthetic tone.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from scipy.io import wavfile

from models.training.synth import FLUIDR3, Note, Phrase, render_phrase

SAMPLE_RATE = 44100  # Hz
FLUTE_PROGRAM = 73  # General MIDI 74 "Flute", zero-based
TAIL_S = 0.8  # s of release and silence after the last note


# A phrase of "Ode to Joy" in D major, flute register; a few notes sharp or flat by 25-40 cents
# (what an unsteady embouchure does), two long notes with vibrato.
_TUNE = [
    (78, 0.5, 0), (78, 0.5, 30), (79, 0.5, 0), (81, 0.5, -35),
    (81, 0.5, 0), (79, 0.5, 0), (78, 0.5, 40), (76, 0.5, 0),
    (74, 0.5, -25), (74, 0.5, 0), (76, 0.5, 0), (78, 0.5, 30),
    (78, 0.75, -30), (76, 0.25, 0), (76, 1.0, 35),
]  # fmt: skip
_VIBRATO = {12: 15.0, 14: 15.0}  # note index -> vibrato half extent, cents


def sample_melody(*, lead_in_s: float = 0.4, gap_s: float = 0.04) -> list[Note]:
    notes = []
    t = lead_in_s
    for i, (midi, beats, detune) in enumerate(_TUNE):
        duration = beats * 1.2  # 0.6 s per crotchet (100 bpm)
        onset = round(t, 3)
        notes.append(
            Note(
                onset_s=onset,
                offset_s=round(onset + duration - gap_s, 3),
                midi=midi,
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
    duration_s = notes[-1].offset_s + TAIL_S
    phrase = Phrase(notes=notes, duration_s=duration_s, program=FLUTE_PROGRAM)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "melody.wav"
        wavfile.write(wav, SAMPLE_RATE, render_phrase(phrase, FLUIDR3, SAMPLE_RATE))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=15:duration={duration_s:.2f}",
             "-i", str(wav),
             "-map", "0:v", "-map", "1:a",
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
