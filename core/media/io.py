"""The soundtrack out and back in: decode a probed clip's audio, write the corrected clip.

Works only on what :func:`core.media.probe.probe` accepted (a
:class:`~core.media.probe.MediaInfo`), and
runs ffmpeg only through :mod:`core.media.probe`'s hardened invocation, so the safety rules stated
there hold for every byte read here. The result is written atomically (temp file + rename).

Audio arrays are float32 ``[channels, samples]`` in [-1, 1] at the clip's own sample rate.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from core.errors import Corrupt, NoAudio, ProcessingError
from core.media.encoders import AAC_SAMPLE_RATES, aac_bit_rate_kbps, audio_encoding
from core.media.probe import (
    AUDIO_CONTAINERS,
    Container,
    MediaInfo,
    channels_from_layout,
    ffmpeg_stream,
    file_url,
    input_args,
    media_timeout_s,
)

if TYPE_CHECKING:
    from core.media.spool import AudioSource, PcmSpool

__all__ = [
    "AAC_SAMPLE_RATES",
    "ResultWriter",
    "aac_bit_rate_kbps",
    "decode_audio",
    "encoder_args",
    "open_result",
    "result_container",
    "start_decode",
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
    max_samples = _max_samples(info)
    buffer = np.empty((max_samples + 1) * a.channels, dtype="<f4")
    view = buffer.data.cast("B")
    filled = 0
    args = _decode_args(path, info)
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


def _max_samples(info: MediaInfo) -> int:
    """Samples a stream may decode to: the probed duration + 1 s of slack + one AAC frame."""
    assert info.audio is not None
    return round((info.duration_s + 1.0) * info.audio.sample_rate) + AAC_FRAME_SAMPLES


def _input_args(path: str | os.PathLike[str], info: MediaInfo) -> list[str]:
    """The hardened input, opening no more streams than the probe saw in it."""
    return input_args(Path(path), info.container, max_streams=max(1, len(info.streams)))


def _decode_args(path: str | os.PathLike[str], info: MediaInfo) -> list[str]:
    assert info.audio is not None
    a = info.audio
    # A stream whose timestamps run on another clock than its samples (see AudioInfo.retimed)
    # is timed by its sample count, so nothing is squeezed to fit a lying header.
    timing = "asetpts=N/SR/TB," if a.retimed else ""
    return [
        "-v", "error", *_input_args(path, info),
        "-map", f"0:{a.index}", "-vn", "-sn", "-dn",
        "-af", f"{timing}aresample=async=1:first_pts=0",
        "-ac", str(a.channels), "-ar", str(a.sample_rate),
        "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1",
    ]  # fmt: skip


DECODE_READ_BYTES = 1 << 20  # bytes read from ffmpeg's stdout per spool append


def decode_into(path: str | os.PathLike[str], info: MediaInfo, spool: PcmSpool) -> None:
    """:func:`decode_audio`'s decode, appended to ``spool`` as ffmpeg produces it.

    Same samples, same checks (a stream running far past its declared duration, a failed or
    empty decode raise :class:`Corrupt`); the error is also handed to the spool, so readers
    waiting for samples see it. The whole clip is never in memory.
    """
    if info.audio is None:
        raise NoAudio("no audio stream")
    limit = _max_samples(info) * 4 * info.audio.channels
    received = 0
    error: BaseException | None = None
    try:
        with ffmpeg_stream(
            _decode_args(path, info), timeout_s=media_timeout_s(info.duration_s)
        ) as run:
            stdout = cast(io.BufferedReader, run.proc.stdout)
            while received <= limit:
                data = stdout.read1(DECODE_READ_BYTES)
                if not data:
                    break
                received += len(data)
                spool.append(data[: max(0, limit - (received - len(data)))])
            if received > limit:
                run.proc.kill()
        if received > limit:
            raise Corrupt("audio runs far past the container's duration")
        if run.returncode != 0:
            raise Corrupt("audio does not decode", reason=run.stderr.strip()[-200:])
        if received < 4 * info.audio.channels:
            raise Corrupt("audio decodes to nothing")
    except BaseException as exc:
        error = exc
        raise
    finally:
        spool.finish(error)


def start_decode(
    path: str | os.PathLike[str], info: MediaInfo, *, directory: Path | None = None
) -> PcmSpool:
    """Start decoding the probed audio into a new :class:`~core.media.spool.PcmSpool` in a thread.

    Returns at once: readers of the spool wait for the samples they need, so tracking (and
    loading the model) overlaps the decode. The caller closes the spool.
    """
    from core.media.spool import PcmSpool

    if info.audio is None:
        raise NoAudio("no audio stream")
    spool = PcmSpool(info.audio.channels, info.audio.sample_rate, directory=directory)

    def run() -> None:
        with contextlib.suppress(BaseException):  # handed to the spool's readers
            decode_into(path, info, spool)

    threading.Thread(target=run, name="smask-decode", daemon=True).start()
    return spool


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
    WAV or FLAC stays in its format (codec per :func:`core.media.encoders.audio_encoding`).
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
    with open_result(src, dst, info, container=container) as writer:
        for start in range(0, samples.shape[1], PCM_CHUNK_SAMPLES):
            writer.write(samples[:, start : start + PCM_CHUNK_SAMPLES])


def encoder_args(
    info: MediaInfo, container: Container | None = None
) -> tuple[list[str], list[str]]:
    """How the result is encoded: (raw PCM input options, output stream/codec/muxer options).

    The one place that chooses codec, bit rate, rate, layout and container for the result
    (the codec per format from :func:`core.media.encoders.audio_encoding`); :class:`ResultWriter`
    only decides how the samples flow into it.
    """
    assert info.audio is not None
    a = info.audio
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
    pcm_in = ["-f", "f32le", "-sample_rate", str(a.sample_rate), *raw_layout]
    out: list[str] = []
    if info.video is not None:
        out += ["-map", f"0:{info.video.index}", "-c:v", "copy"]
        if info.video.codec_tag in _KEEP_TAGS:
            # The mp4 muxer would write HEVC as hev1; Apple players only show hvc1.
            out += ["-tag:v", info.video.codec_tag]
    out += [
        "-map", "1:a:0", *encoding.codec_args,
        "-map_metadata", "0", "-map_metadata:s:a:0", f"0:s:{a.index}",
        *encoding.mux_args, "-f", encoding.muxer,
    ]  # fmt: skip
    return pcm_in, out


_QUEUE_BYTES = 32 << 20  # bytes of finished audio that may wait for the encoder
# What ffmpeg prints (the C library's strerror) when the result cannot be stored, and how the
# operator's log line names it: a full disk is the disk, not "ffmpeg could not write".
_STORAGE_FAILURES = (
    ("No space left on device", "no space left on device"),
    ("Disk quota exceeded", "disk quota exceeded"),
    ("File too large", "file size limit reached"),
    ("Read-only file system", "read-only file system"),
    ("Permission denied", "permission denied"),
)


def _write_failure(stderr: str, folder: Path) -> ProcessingError:
    """The error for an encoder that exited non-zero, naming a storage cause when ffmpeg did."""
    stderr = stderr.strip()
    for printed, cause in _STORAGE_FAILURES:
        if printed in stderr:
            return ProcessingError(
                f"{cause}: the result could not be written in {folder}",
                storage=cause,
                reason=stderr[-600:],
            )
    return ProcessingError("ffmpeg could not write the result", reason=stderr[-600:])


class ResultWriter:
    """Feeds the encoder in order from a thread of its own, so the caller keeps working.

    Two kinds of pieces, in clip order: arrays the caller computed (:meth:`write`) and spans
    to copy unchanged from a source (:meth:`copy`, read a second at a time by the feeder, so
    untouched audio costs the caller nothing and never sits in memory). At most
    ``_QUEUE_BYTES`` of arrays wait; past that :meth:`write` blocks until the encoder catches
    up, so memory stays bounded when the caller outruns the encoder.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        channels: int,
        on_first_input: Callable[[], None] = lambda: None,
        tee: Callable[[bytes], None] | None = None,
    ) -> None:
        self._proc = proc
        self._channels = channels
        self._tee = tee
        self._on_first_input: Callable[[], None] | None = on_first_input
        self._items: queue.Queue[tuple[object, ...] | None] = queue.Queue()
        self._room = threading.Condition()
        self._queued_bytes = 0
        self._error: BaseException | None = None
        self._fed_out = False  # the feeder has ended (done, or failed: see _error)
        self._thread = threading.Thread(target=self._feed, name="smask-encode", daemon=True)
        self._thread.start()

    def write(self, block: npt.NDArray[np.floating]) -> None:
        samples = np.asarray(block, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[0] != self._channels:
            raise ValueError(f"audio must be [{self._channels}, samples], got {samples.shape}")
        if not np.isfinite(samples).all():
            raise ValueError("audio holds NaN or infinity")
        with self._room:
            while self._queued_bytes > _QUEUE_BYTES and not self._fed_out:
                self._room.wait()
            if self._error is not None:  # the feeder failed: stop queueing a dead result
                raise self._error
            self._queued_bytes += samples.nbytes
        self._items.put(("array", samples))

    def copy(self, source: AudioSource, start: int, stop: int) -> None:
        if stop > start:
            self._items.put(("copy", source, start, stop))

    def _pieces(self, item: tuple[object, ...]) -> Iterator[npt.NDArray[np.float32]]:
        if item[0] == "array":
            samples = cast(npt.NDArray[np.float32], item[1])
            for start in range(0, samples.shape[1], PCM_CHUNK_SAMPLES):
                yield samples[:, start : start + PCM_CHUNK_SAMPLES]
            with self._room:
                self._queued_bytes -= samples.nbytes
                self._room.notify_all()
        else:
            source, first, last = cast("tuple[AudioSource, int, int]", item[1:])
            step = 16 * PCM_CHUNK_SAMPLES
            for start in range(first, last, step):
                yield source.read(start, min(last, start + step))

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        broken = False
        try:
            while (item := self._items.get()) is not None:
                if self._on_first_input is not None:
                    self._on_first_input()  # the encoder's own work starts now
                    self._on_first_input = None
                for piece in self._pieces(item):
                    if broken:
                        continue
                    chunk = np.clip(piece.T, -1.0, 1.0)
                    data = np.ascontiguousarray(chunk, dtype="<f4").tobytes()
                    if self._tee is not None:
                        self._tee(data)
                    try:
                        stdin.write(data)
                    except BrokenPipeError:
                        broken = True  # ffmpeg gave up early; its exit status and stderr say why
        except BaseException as exc:  # a source that failed to read: the result is invalid
            self._error = exc
            self._proc.kill()
        finally:
            with contextlib.suppress(BrokenPipeError, OSError):
                stdin.close()
            with self._room:
                self._fed_out = True  # under the lock: a blocked write() sees it on waking
                self._room.notify_all()

    def close(self) -> None:
        """Wait until every piece has reached the encoder and its input is closed."""
        self._items.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._proc.kill()
        self._items.put(None)
        self._thread.join()


@contextlib.contextmanager
def open_result(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    info: MediaInfo,
    *,
    container: Container | None = None,
    tee: Callable[[bytes], None] | None = None,
) -> Iterator[ResultWriter]:
    """Encode the audio written to the yielded :class:`ResultWriter` into ``dst`` (see
    :func:`write_result` for what the file holds and ``container``). ``dst`` appears,
    complete, only when the block ends without an exception and ffmpeg succeeded; otherwise
    it is left untouched. ``tee`` is also called with every byte the encoder is fed (the same
    raw float32 PCM as the spool's), for a listening copy (:mod:`core.media.listening`); it
    must not raise."""
    if info.audio is None:
        raise NoAudio("no audio stream")
    dst = Path(dst)
    pcm_in, out = encoder_args(info, container)
    args = ["-v", "error", "-y", *_input_args(src, info), *pcm_in, "-i", "pipe:0", *out]
    # Named here, created by ffmpeg itself: an exception at any point (a SIGTERM lands between
    # any two bytecodes) finds the name to remove, and no file exists before the encoder
    # that could outlive a run killed while it was being started.
    tmp = dst.parent / f".{dst.name}.{secrets.token_hex(8)}.part"
    if not dst.parent.is_dir():  # the caller's mistake (a typo in -o), not ffmpeg's failure
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(dst.parent))
    try:
        timeout_s = media_timeout_s(info.duration_s)
        with ffmpeg_stream(
            [*args, file_url(tmp)],
            timeout_s=timeout_s,
            stdin=True,
            stdout=False,
            clock_from_first_input=True,
        ) as run:
            # Opened before the analysis: its clock starts with the first audio it gets.
            writer = ResultWriter(
                run.proc, info.audio.channels, on_first_input=run.start_clock, tee=tee
            )
            try:
                yield writer
            except BaseException:  # no half-fed result is finished: the encoder is killed
                writer.abort()
                raise
            writer.close()  # every piece reached the encoder and its input is closed
        if run.returncode != 0:
            raise _write_failure(run.stderr, dst.parent)
        if tmp.stat().st_size == 0:
            raise ProcessingError("ffmpeg wrote an empty file")
        tmp.chmod(RESULT_FILE_MODE)  # an ordinary file for whoever reads dst's folder
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
