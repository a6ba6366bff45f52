"""The soundtrack out and back in: decode a probed clip's audio, write the corrected clip.

Works only on what :func:`core.probe.probe` accepted (a :class:`~core.probe.MediaInfo`), and
runs ffmpeg only through :mod:`core.probe`'s hardened invocation, so the safety rules stated
there hold for every byte read here. The result is written atomically (temp file + rename).

Audio arrays are float32 ``[channels, samples]`` in [-1, 1] at the clip's own sample rate.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tempfile
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from core.encoders import AAC_SAMPLE_RATES, aac_bit_rate_kbps, audio_encoding
from core.errors import Corrupt, NoAudio, ProcessingError
from core.probe import (
    AUDIO_CONTAINERS,
    Container,
    MediaInfo,
    channels_from_layout,
    ffmpeg_stream,
    file_url,
    input_args,
    media_timeout_s,
)

__all__ = [
    "AAC_SAMPLE_RATES",
    "aac_bit_rate_kbps",
    "decode_audio",
    "result_container",
    "write_result",
]

PCM_CHUNK_SAMPLES = 1 << 16  # samples per channel handed to ffmpeg's stdin at a time
AAC_FRAME_SAMPLES = 1024  # samples per AAC frame (the unit of "same duration")
RESULT_FILE_MODE = 0o644


# --------------------------------------------------------------------------------------------
# decode
# --------------------------------------------------------------------------------------------


def decode_audio(path: str | os.PathLike[str], info: MediaInfo) -> npt.NDArray[np.float32]:
    """Decode the probed audio stream to float32 ``[channels, samples]`` through a pipe.

    Sample 0 is time 0 of the clip: if the sound starts later than the picture the gap is
    filled with silence (``aresample=first_pts=0``), and timestamp gaps inside are filled too,
    so an index into this array is a position on the video's timeline. The rate and channel
    order are the stream's own; nothing is resampled or remixed.
    """
    if info.audio is None:
        raise NoAudio("no audio stream")
    a = info.audio
    # Read straight into one preallocated buffer sized from the probed duration (+1 s of
    # slack): no copy of the whole stream as bytes, and a stream that decodes to more than
    # its container declared cannot grow without bound.
    max_samples = round((info.duration_s + 1.0) * a.sample_rate) + AAC_FRAME_SAMPLES
    buffer = np.empty((max_samples + 1) * a.channels, dtype="<f4")
    view = buffer.data.cast("B")
    filled = 0
    args = [
        "-v", "error", *input_args(Path(path), info.container),
        "-map", f"0:{a.index}", "-vn", "-sn", "-dn",
        "-af", "aresample=async=1:first_pts=0", "-ac", str(a.channels), "-ar", str(a.sample_rate),
        "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    with ffmpeg_stream(args, timeout_s=media_timeout_s(info.duration_s)) as run:
        stdout = cast(io.BufferedReader, run.proc.stdout)
        while filled < len(view):
            n = stdout.readinto(view[filled:])
            if not n:
                break
            filled += n
        if filled == len(view):
            run.proc.kill()
    if filled == len(view):
        raise Corrupt("audio runs far past the container's duration")
    if run.returncode != 0:
        raise Corrupt("audio does not decode", reason=run.stderr.strip()[-200:])
    n_samples = filled // (4 * a.channels)
    if n_samples == 0:
        raise Corrupt("audio decodes to nothing")
    interleaved = buffer[: n_samples * a.channels].reshape(n_samples, a.channels)
    return np.ascontiguousarray(interleaved.T, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# write
# --------------------------------------------------------------------------------------------

_KEEP_TAGS = {"hvc1", "hev1", "avc1", "avc3"}


def result_container(info: MediaInfo) -> Container:
    """The container a result is written in by default: the input's own family.

    A clip stays MP4/MOV (its picture is copied), an audio-only MP4 becomes M4A, and OGG, MP3,
    WAV and FLAC stay what they are.
    """
    if info.video is not None or info.container in AUDIO_CONTAINERS:
        return info.container
    return "m4a"


def _feed_pcm(proc: subprocess.Popen[bytes], samples: npt.NDArray[np.float32]) -> None:
    """Interleave, clip and pipe ``[channels, samples]`` in chunks, so no full-size copy exists."""
    assert proc.stdin is not None
    try:
        for start in range(0, samples.shape[1], PCM_CHUNK_SAMPLES):
            chunk = np.clip(samples[:, start : start + PCM_CHUNK_SAMPLES].T, -1.0, 1.0)
            proc.stdin.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg gave up early; its exit status and stderr say why


def write_result(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    audio: npt.NDArray[np.floating],
    info: MediaInfo,
    *,
    container: Container | None = None,
) -> None:
    """Write ``src`` with its sound replaced by ``audio``; the picture is not re-encoded.

    What the output holds, on purpose:

    * The probed video stream, copied packet for packet (same bytes, timestamps, codec tag,
      display matrix, so rotation is kept) and its stream metadata.
    * ``audio`` (float32 ``[channels, samples]`` at ``info.audio.sample_rate``, time 0 at
      sample 0 as :func:`decode_audio` gives it) encoded as AAC-LC with the original channel
      count and layout, at the original rate (rates AAC cannot carry, such as 192 kHz, drop
      to the nearest lower AAC rate), carrying the old audio stream's metadata (language,
      handler name).
    * The clip's global metadata (title, creation time, location...).
    * Nothing else: other audio tracks (they would be out of tune against the corrected one),
      data tracks (timecode, GPS, camera telemetry), subtitles and cover art are dropped,
      because their timing no longer matches a re-encoded soundtrack and several of them
      cannot be muxed into every container.

    The muxer follows the *input* container (MOV stays MOV, MP4 stays MP4), so every codec the
    input carried can be copied; an audio-only MP4 becomes an audio-only M4A, and an OGG, MP3,
    WAV or FLAC stays in its format (codec per :func:`core.encoders.audio_encoding`).
    ``container`` overrides that for audio-only results (the bot answers a voice message
    with OGG/Opus whatever VK handed it). ``dst``'s suffix is not consulted. MP4 files get
    ``+faststart`` (index first, so VK previews it
    while downloading). It is written to a hidden temp file next to ``dst`` and renamed into
    place, so ``dst`` is either complete or untouched; the temp file is removed on failure.

    Raises:
        ValueError: ``audio`` has the wrong shape or is not finite.
        ProcessingError: ffmpeg failed or timed out.
    """
    if info.audio is None:
        raise NoAudio("no audio stream")
    a = info.audio
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 1 and a.channels == 1:
        samples = samples[np.newaxis, :]
    if samples.ndim != 2 or samples.shape[0] != a.channels or samples.shape[1] == 0:
        raise ValueError(f"audio must be [{a.channels}, samples], got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise ValueError("audio holds NaN or infinity")

    dst = Path(dst)
    layout = a.channel_layout if channels_from_layout(a.channel_layout) == a.channels else ""
    raw_layout = ["-ch_layout", layout] if layout else ["-ch_layout", f"{a.channels}c"]
    if info.video is not None:
        container = info.container  # a picture is copied, never re-muxed elsewhere
    elif container is None:
        container = result_container(info)
    encoding = audio_encoding(
        container,
        sample_rate=a.sample_rate,
        channels=a.channels,
        source_codec=a.codec if container == info.container else "",
        sample_format=a.sample_format,
        bits_per_sample=a.bits_per_sample,
    )

    args = [
        "-v", "error", "-y",
        *input_args(Path(src), info.container),
        "-f", "f32le", "-sample_rate", str(a.sample_rate), *raw_layout, "-i", "pipe:0",
    ]  # fmt: skip
    if info.video is not None:
        args += ["-map", f"0:{info.video.index}", "-c:v", "copy"]
        if info.video.codec_tag in _KEEP_TAGS:
            # The mp4 muxer would write HEVC as hev1; Apple players only show hvc1.
            args += ["-tag:v", info.video.codec_tag]
    args += [
        "-map", "1:a:0", *encoding.codec_args,
        "-map_metadata", "0", "-map_metadata:s:a:0", f"0:s:{a.index}",
        *encoding.mux_args, "-f", encoding.muxer,
    ]  # fmt: skip

    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        timeout_s = media_timeout_s(info.duration_s)
        with ffmpeg_stream(
            [*args, file_url(tmp)], timeout_s=timeout_s, stdin=True, stdout=False
        ) as run:
            _feed_pcm(run.proc, samples)
        if run.returncode != 0:
            raise ProcessingError(
                "ffmpeg could not write the result", reason=run.stderr.strip()[-600:]
            )
        if tmp.stat().st_size == 0:
            raise ProcessingError("ffmpeg wrote an empty file")
        # mkstemp made it owner-only; a result is an ordinary file for whoever reads dst's folder.
        tmp.chmod(RESULT_FILE_MODE)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
