"""A take's audio as Opus: small enough to keep for months, good enough to hear a note."""

from __future__ import annotations

import subprocess
from pathlib import Path

BITRATE = "48k"
ENCODE_TIMEOUT_S = 120.0


def encode_opus(src: Path, dst: Path) -> None:
    """Mono Opus in OGG at ~48 kbit/s from any file ffmpeg reads (the video is dropped).

    The input was probed and decoded by the pipeline already, so a failure here is ours.

    Raises:
        RuntimeError: ffmpeg failed or took too long (the partial file is removed).
    """
    from core.media.probe import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-i", str(src), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "48000",
           "-c:a", "libopus", "-b:a", BITRATE, "-application", "audio",
           "-f", "ogg", str(dst)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=ENCODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        dst.unlink(missing_ok=True)
        raise RuntimeError("opus encode timed out") from None
    if done.returncode != 0:
        dst.unlink(missing_ok=True)
        tail = done.stderr.decode("utf-8", "replace")[-300:]
        raise RuntimeError(f"opus encode failed: {tail}")
