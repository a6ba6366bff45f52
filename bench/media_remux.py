"""Decode + remux of a 60 s 720p clip: core.media against plain ffmpeg doing the same work.

The floor is two bare ffmpeg calls: decode the soundtrack to raw float32 through a pipe, then
encode that audio back to AAC at the same bit rate while copying the video with
``+faststart``. That is exactly the work ``decode_audio`` + ``write_result`` must do for the
pitch corrector, so the ratio shows what our safety checks, NumPy hand-off and atomic write
cost on top. ``probe`` is timed on its own: the floor has no equivalent (it trusts its input).

Run: ``python -m bench.media_remux [--repeats N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.media import _aac_bit_rate_kbps, decode_audio, ffmpeg_exe, probe, write_result

RESULTS = Path(__file__).resolve().parent / "results" / "media_remux.md"
SAMPLE_RATE = 48000  # Hz
CHANNELS = 2


def make_clip(path: Path, seconds: float) -> None:
    """H.264 1280x720 30 fps + AAC stereo 48 kHz, moving picture and a sweep in each ear."""
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i",
         f"aevalsrc=0.4*sin(2*PI*(220*t+8*t*t))|0.4*sin(2*PI*(330*t+5*t*t)):s={SAMPLE_RATE}:c=stereo",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip


def floor(src: Path, dst: Path) -> None:
    """Plain ffmpeg: decode audio to raw through a pipe, encode it back, copy the video."""
    exe = ffmpeg_exe()
    raw = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-v", "error", "-i", str(src), "-map", "0:a:0",
         "-f", "f32le", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE), "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(src),
         "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ch_layout", "stereo", "-i", "pipe:0",
         "-map", "0:v:0", "-c:v", "copy", "-map", "1:a:0", "-c:a", "aac",
         "-b:a", f"{_aac_bit_rate_kbps(CHANNELS)}k", "-movflags", "+faststart", str(dst)],
        input=raw, check=True, capture_output=True,
    )  # fmt: skip


def ours(src: Path, dst: Path) -> None:
    info = probe(src)
    audio = decode_audio(src, info)
    write_result(src, dst, audio, info)


def ours_without_probe(src: Path, dst: Path) -> Callable[[], None]:
    info = probe(src)

    def run() -> None:
        write_result(src, dst, decode_audio(src, info), info)

    return run


def timed(fn: Callable[[], None], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (median)")
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length in seconds")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="smask-bench-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "clip720p.mp4"
        make_clip(src, args.seconds)
        size_mb = src.stat().st_size / 1e6
        info = probe(src)
        audio = decode_audio(src, info)
        assert audio.shape == (CHANNELS, audio.shape[1]) and audio.dtype == np.float32

        floor_s = timed(lambda: floor(src, tmp / "floor.mp4"), args.repeats)
        work_s = timed(ours_without_probe(src, tmp / "ours.mp4"), args.repeats)
        probe_s = timed(lambda: probe(src), args.repeats)
        total_s = timed(lambda: ours(src, tmp / "ours_total.mp4"), args.repeats)

    f, w, p, t = (statistics.median(x) for x in (floor_s, work_s, probe_s, total_s))
    rows = [
        ("plain ffmpeg (floor): decode to raw + AAC encode + video copy", f, 1.0),
        ("decode_audio + write_result", w, w / f),
        ("probe (header + packet scan + 1 s decode check)", p, p / f),
        ("probe + decode_audio + write_result", t, t / f),
    ]
    lines = [
        "# media_remux",
        "",
        f"Clip: {args.seconds:.0f} s, H.264 1280x720 30 fps + AAC stereo 48 kHz, "
        f"{size_mb:.1f} MB. Median of {args.repeats} runs each, wall time. "
        f"Host: {platform.machine()}, {platform.python_version()}, CPU only.",
        "",
        "| variant | seconds | ratio to floor |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {sec:.3f} | {ratio:.2f}x |" for name, sec, ratio in rows),
        "",
        "Command: `python -m bench.media_remux"
        + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
        + (f" --seconds {args.seconds:g}" if args.seconds != 60.0 else "")
        + "`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
