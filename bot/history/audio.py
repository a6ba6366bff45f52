"""A take's audio as Opus, encoded after the job: the fallback when a job wrote no listening
copies of its own (core.media.listening)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from core.media.listening import LISTENING_OPUS_ARGS

ENCODE_TIMEOUT_S = 120.0
# The same listening copy a job writes from the audio it holds (core.media.listening): this
# separate run is the fallback for a take without them.
OPUS_ARGS = ("-vn", *LISTENING_OPUS_ARGS)


def encode_opus(src: Path, dst: Path) -> None:
    """Mono Opus in OGG at ~48 kbit/s from any file ffmpeg reads (the video is dropped)."""
    encode_opus_pair([(src, dst)])


def encode_opus_pair(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Each source to its Opus file in ONE ffmpeg run: a take's before and after cost one
    process start and one scheduler slot on a busy worker, not two.

    The inputs were probed and decoded by the pipeline already, so a failure here is ours.

    Raises:
        RuntimeError: ffmpeg failed or took too long (the partial files are removed).
    """
    from core.media.probe import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for src, _ in pairs:
        cmd += ["-i", str(src)]
    for i, (_, dst) in enumerate(pairs):
        cmd += ["-map", f"{i}:a:0", *OPUS_ARGS, str(dst)]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=ENCODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        _remove(pairs)
        raise RuntimeError("opus encode timed out") from None
    if done.returncode != 0:
        _remove(pairs)
        tail = done.stderr.decode("utf-8", "replace")[-300:]
        raise RuntimeError(f"opus encode failed: {tail}")


def _remove(pairs: Sequence[tuple[Path, Path]]) -> None:
    for _, dst in pairs:
        dst.unlink(missing_ok=True)
