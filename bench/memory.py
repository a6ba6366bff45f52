"""Peak memory of ``smask correct`` against the clip's length: it must not grow with it.

Issue 13 (point 8): peak RSS at most 1.2 GB for any clip up to the 600 s limit on CPU (before
streaming: 1.0 GB for 60 s, 1.6 GB for 300 s, 2.3 GB for 595 s of 720p). Clips of 60, 300 and
600 s of 720p H.264 with a stereo 48 kHz AAC flute melody are corrected by the real CLI in a
fresh process each; the peak resident set of that process (VmHWM, file-backed pages of the torch
libraries included) is reported, and beside it the largest ffmpeg child's (sampled every 50 ms),
which runs as a separate process (the decoder and the encoder). The baseline row is a process that
only imports torch and loads the model: what any correction costs before the first sample.

Run: ``python -m bench.memory [--lengths 60 300 600]`` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.results_io import publish

REPO = Path(__file__).resolve().parents[1]
LIMIT_MB = 1200.0

# The peak is read from /proc (VmHWM: this process image's high-water mark); ru_maxrss would
# also count the parent's peak, which a forked child inherits.
_PEAK = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"

_MEASURE = f"""
import json, sys
from smask.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"code": code, "self_mb": {_PEAK} / 1024}}))
"""

_BASELINE = f"""
import json
from models.checkpoint import load_tracker
load_tracker("auto", "cpu")
print(json.dumps({{"self_mb": {_PEAK} / 1024}}))
"""


def _hwm_kb(pid: int) -> int:
    """VmHWM of an ffmpeg process (0 for anything else, or one that has gone)."""
    try:
        with open(f"/proc/{pid}/comm") as fh:
            if not fh.read().startswith("ffmpeg"):
                return 0
        with open(f"/proc/{pid}/status") as fh:
            return next((int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")), 0)
    except OSError:
        return 0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return found


def make_clips(tmp: Path, lengths: list[float]) -> dict[float, Path]:
    """One melody as long as the longest clip; each clip is its first ``seconds``."""
    from scipy.io import wavfile

    from bench.retune import C_MAJOR
    from core.media.probe import ffmpeg_exe
    from models.training.synth import FLUIDR3, Note, Phrase, render_phrase

    longest = max(lengths)
    rng = np.random.default_rng(7)
    notes, t = [], 0.3
    pool = [m for m in range(72, 92) if m % 12 in C_MAJOR]
    while t < longest - 1.0:
        d = float(rng.uniform(0.3, 0.9))
        onset = round(t, 3)
        notes.append(Note(onset, onset + round(d, 3), int(rng.choice(pool)),
                          round(float(rng.uniform(-40, 40))), 0.0))  # fmt: skip
        t += d + 0.08
    wav = tmp / "melody.wav"
    phrase = Phrase(notes, duration_s=longest + 0.5, program=73)
    wavfile.write(wav, 48000, render_phrase(phrase, FLUIDR3, 48000, stereo=True))
    clips = {}
    for seconds in lengths:
        path = tmp / f"clip{seconds:g}.mp4"
        # 1 Mbit/s keeps a 600 s clip far below VK's 200 MB cap (the limit smask enforces).
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y",
             "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-i", str(wav),
             "-map", "0:v", "-map", "1:a", "-t", str(seconds),
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1M", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(path)],
            check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
        clips[seconds] = path
    wav.unlink()
    return clips


def _run(script: str, *args: str) -> dict[str, float]:
    """Run ``script``; its own peak as it reports it, its ffmpeg children's by polling /proc."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    child_kb = 0
    while proc.poll() is None:
        for child in _children(proc.pid):
            child_kb = max(child_kb, _hwm_kb(child))
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(stderr[-2000:])
    result: dict[str, float] = json.loads(stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["child_mb"] = child_kb / 1024
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[60.0, 300.0, 600.0])
    args = parser.parse_args(argv)

    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="smask-memory-") as tmp_name:
        tmp = Path(tmp_name)
        clips = make_clips(tmp, args.lengths)
        baseline = _run(_BASELINE)
        for seconds, path in clips.items():
            size_mb = path.stat().st_size / 1e6
            out = _run(_MEASURE, "correct", str(path), "-o", str(tmp / "out.mp4"), "-q")
            rows.append((seconds, size_mb, out))
    load_after = os.getloadavg()

    worst = max(r[2]["self_mb"] for r in rows)
    growth = (rows[-1][2]["self_mb"] - rows[0][2]["self_mb"]) / max(1.0, rows[-1][0] - rows[0][0])
    lines = [
        "# memory",
        "",
        f"`smask correct` on 720p H.264 (1 Mbit/s) + AAC stereo 48 kHz FluidR3 flute clips, "
        f"one fresh process each. Host: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, CPU only; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after.",
        "",
        "| clip | file MB | peak RSS, smask (MB) | peak RSS, largest ffmpeg child (MB) | wall s |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| none: import torch + load the model | - | {baseline['self_mb']:.0f} | - | "
        f"{baseline['wall_s']:.1f} |",
        *(
            f"| {seconds:g} s | {size:.0f} | {r['self_mb']:.0f} | {r['child_mb']:.0f} | "
            f"{r['wall_s']:.1f} |"
            for seconds, size, r in rows
        ),
        "",
        f"Worst peak {worst:.0f} MB against the {LIMIT_MB:.0f} MB target "
        f"({'met' if worst <= LIMIT_MB else 'NOT met'}); growth "
        f"{growth * 60:.1f} MB per extra minute of clip. Before streaming (issue 13): "
        "1.0 GB for 60 s, 1.6 GB for 300 s, 2.3 GB for 595 s.",
        "",
        "Command: `python -m bench.memory"
        + (
            " --lengths " + " ".join(f"{s:g}" for s in args.lengths)
            if args.lengths != [60.0, 300.0, 600.0]
            else ""
        )
        + "`",
        "",
    ]
    publish("memory", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
