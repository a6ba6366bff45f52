"""Decode + remux of a 60 s 720p clip: core.media.io against plain ffmpeg doing the same work.

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

from bench.results_io import publish
from core.media.io import aac_bit_rate_kbps, decode_audio, write_result
from core.media.probe import ffmpeg_exe, probe

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
         "-b:a", f"{aac_bit_rate_kbps(CHANNELS)}k", "-movflags", "+faststart", str(dst)],
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


def interleaved(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times per variant, run round-robin so load from other processes hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant")
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

        variants: dict[str, Callable[[], object]] = {
            "plain ffmpeg (floor): decode to raw + AAC encode + video copy": lambda: floor(
                src, tmp / "floor.mp4"
            ),
            "decode_audio + write_result": ours_without_probe(src, tmp / "ours.mp4"),
            "probe (header + packet scan + a few frames decoded)": lambda: probe(src),
            "probe + decode_audio + write_result": lambda: ours(src, tmp / "ours_total.mp4"),
        }
        times = interleaved(variants, args.repeats)

    floor_times = next(iter(times.values()))
    floor_median, floor_min = statistics.median(floor_times), min(floor_times)
    rows = [
        (
            name,
            statistics.median(t),
            min(t),
            statistics.median(t) / floor_median,
            min(t) / floor_min,
        )
        for name, t in times.items()
    ]
    lines = [
        "# media_remux",
        "",
        f"Clip: {args.seconds:.0f} s, H.264 1280x720 30 fps + AAC stereo 48 kHz, "
        f"{size_mb:.1f} MB. {args.repeats} interleaved runs of each variant, wall time. "
        f"Host: {platform.machine()}, {platform.python_version()}, CPU only.",
        "",
        "| variant | median s | min s | ratio (medians) | ratio (mins) |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {med:.3f} | {low:.3f} | {r_med:.2f}x | {r_min:.2f}x |"
            for name, med, low, r_med, r_min in rows
        ),
        "",
        "Ratios are to the floor's median and min; the host is shared, so the min is the "
        "least disturbed run.",
        "",
        "Command: `python -m bench.media_remux"
        + (f" --repeats {args.repeats}" if args.repeats != 5 else "")
        + (f" --seconds {args.seconds:g}" if args.seconds != 60.0 else "")
        + "`",
        "",
    ]
    publish("media_remux", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
