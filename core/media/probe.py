"""Is this upload a clip we can correct, and what is in it: sniff, harden, check, describe.

Everything goes through the ``ffmpeg`` binary that imageio-ffmpeg ships (there is no ffprobe),
always as an argv list, never through a shell. Three rules keep a hostile upload harmless:

* The container is decided by the first bytes (:func:`sniff_container`), never by the name;
  playlists, concat scripts, web pages, WebM/MKV and friends are refused before ffmpeg sees
  them. The audio containers (OGG, MP3, WAV) are also walked at the byte level by
  :mod:`core.media.containers` for what ffmpeg would forgive (truncation, chaining, lying sizes).
* Every ffmpeg call forces the demuxer the bytes named (``-f mov`` for MP4/MOV/M4A, ``ogg``,
  ``mp3``, ``wav``, ``flac``), restricts protocols to ``file,pipe``, switches off external data
  references for QuickTime (``-enable_drefs 0``), caps the streams it will open
  (``-max_streams``: a container may declare hundreds, each costing a decoder and its
  buffers) and names the input as a ``file:`` URL, so nothing in the bytes can make ffmpeg
  open another file or a URL, and a name starting with ``-`` or holding ``:`` is still just
  a name.
* :class:`~core.limits.MediaLimits` are checked on the header before anything is decoded, and
  every subprocess has a timeout.

The hardened invocation (:func:`input_args`, :func:`ffmpeg_stream`, :func:`media_timeout_s`)
lives here with the checks it belongs to; :mod:`core.media.io` decodes and writes through it, so
no module runs ffmpeg on an input any other way.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import stat
import subprocess
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core import interrupts
from core.errors import (
    Corrupt,
    EmptyFile,
    Hostile,
    LengthMismatch,
    NoAudio,
    NotMedia,
    NotVideo,
    ProcessingError,
    TooBig,
    TooLarge,
    TooLong,
    TooManyStreams,
    UnsupportedContainer,
    VideoInAudio,
    WebPage,
)
from core.limits import MediaLimits
from core.media import containers

__all__ = [
    "AUDIO_CONTAINERS",
    "AudioInfo",
    "Container",
    "MediaInfo",
    "VideoInfo",
    "channels_from_layout",
    "demuxer_args",
    "ffmpeg_exe",
    "ffmpeg_stream",
    "file_url",
    "input_args",
    "media_timeout_s",
    "probe",
    "sniff_container",
]

Container = Literal["mp4", "mov", "m4a", "ogg", "mp3", "wav", "flac"]
# Containers that hold sound only: a picture stream in one of them is refused.
AUDIO_CONTAINERS: frozenset[str] = frozenset({"ogg", "mp3", "wav", "flac"})
# The codecs each audio container may carry (WAV: any PCM, see _codec_allowed).
AUDIO_CODECS: dict[str, frozenset[str]] = {
    "ogg": frozenset({"opus", "vorbis"}),
    "mp3": frozenset({"mp3"}),
    "flac": frozenset({"flac"}),
}
_DEMUXERS: dict[str, str] = {"mp4": "mov", "mov": "mov", "m4a": "mov"}

# Demuxer options placed before every ``-i`` of an MP4/MOV/M4A: see the module docstring.
DEMUXER_ARGS: tuple[str, ...] = (
    "-f",
    "mov",
    "-protocol_whitelist",
    "file,pipe",
    "-enable_drefs",
    "0",
)
# Header and packets may disagree by this much (s) plus LENGTH_TOLERANCE of the real length.
LENGTH_TOLERANCE_S = 0.5
LENGTH_TOLERANCE = 0.05
PROBE_TIMEOUT_S = 30.0  # s, header parse and packet scan of a file within the size limit
DECODE_CHECK_FRAMES = {"v": 3, "a": 8}  # frames per stream probe() actually decodes
MAX_PACKETS_PER_S = 1000  # packets/s of allowed duration; real clips use < 400 (240 fps + AAC)
SUBPROCESS_BASE_TIMEOUT_S = 60.0  # s, added to the duration-based part below
SUBPROCESS_TIMEOUT_PER_MEDIA_S = 2.0  # s of wall time allowed per second of media
VFR_TOLERANCE = 0.02  # relative spread of frame durations still called constant frame rate
SNIFF_BYTES = 4096
# Relative disagreement between the stream's timestamps and the samples its frames decode to
# beyond which the container's clock is a lie (a FLAC STREAMINFO claiming 96 kHz over
# 44.1 kHz frames). Real files agree to rounding; a gap moves one frame, not the median.
CLOCK_TOLERANCE = 0.02
_MAX_STREAMS_RE = re.compile(r"exceeds max_streams parameter")

# ISO base media / QuickTime top-level boxes a real file may start with.
_QT_LEADING_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"junk", b"uuid"}
# ftyp brands of ISO-BMFF files that are still images or raw photos, not clips.
_IMAGE_BRANDS = {
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
    b"avif", b"avis", b"crx ", b"jp2 ", b"jpx ", b"jpm ",
}  # fmt: skip
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
# Leading bytes of containers ffmpeg could read but we do not accept.
_OTHER_CONTAINERS: tuple[tuple[bytes, str], ...] = (
    (b"\x1a\x45\xdf\xa3", "matroska/webm"),
    (b"RIFF", "riff (avi...)"),
    (b"RF64", "rf64"),
    (b"FLV", "flv"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf/wmv"),
    (b".RMF", "realmedia"),
    (b"\x00\x00\x01\xba", "mpeg-ps"),
    (b"\x00\x00\x01\xb3", "mpeg video"),
    (b"FORM", "aiff"),
    (b"caff", "caf"),
    (b"#!AMR", "amr"),
)
# Text that makes a media tool fetch something else: playlists, concat lists, manifests.
_REFERENCE_MARKERS = (
    b"#extm3u",
    b"#ext-x-",
    b"ffconcat",
    b"<mpd",
    b"[playlist]",
    b"<smil",
    b"#extinf",
    b"file '",
    b'file "',
)
# Text that starts a web page (a download link that answered with HTML).
_WEB_PAGE_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")


# --------------------------------------------------------------------------------------------
# Facts about a clip
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """The picture stream we copy.

    ``width``/``height`` are the coded size; ``rotation`` is the clockwise angle in degrees a
    player turns the picture (what phones mean by "rotate": a portrait iPhone clip says 90),
    read from the display matrix. ``fps`` is frames over time measured from the packets;
    ``vfr`` is true when frame durations vary by more than ``VFR_TOLERANCE``.
    """

    index: int
    codec: str
    codec_tag: str | None
    width: int
    height: int
    rotation: int
    fps: float
    vfr: bool
    frames: int
    duration_s: float

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as the viewer sees it, after rotation."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioInfo:
    """The sound stream we analyse and replace.

    ``start_s`` is where its first sample sits on the clip's timeline; :func:`decode_audio`
    pads that stretch with silence so sample 0 is time 0 and lip sync survives the rewrite.
    """

    index: int
    codec: str
    sample_rate: int  # Hz
    channels: int
    channel_layout: str
    bit_rate_kbps: int | None
    start_s: float
    duration_s: float
    sample_format: str = ""  # as ffmpeg names it: s16, s32, fltp...
    bits_per_sample: int | None = None  # when the format says more than its size ("24 bit")
    # The container's timestamps run on another clock than the samples (a FLAC header that
    # claims 96 kHz over 44.1 kHz frames): the sound is decoded by its sample count instead,
    # as a player plays it, and ``duration_s`` is what the samples last.
    retimed: bool = False


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learned; ``to_dict()`` is what ``smask probe`` prints."""

    path: Path
    container: Container
    duration_s: float
    size_bytes: int
    video: VideoInfo | None
    audio: AudioInfo | None
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def sample_rate(self) -> int:
        """The audio's own rate in Hz (every clip :func:`probe` accepts has audio)."""
        if self.audio is None:
            raise NoAudio("no audio stream")
        return self.audio.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "container": self.container,
            "duration_s": round(self.duration_s, 4),
            "size_bytes": self.size_bytes,
            "video": None
            if self.video is None
            else {
                **asdict(self.video),
                "fps": round(self.video.fps, 4),
                "duration_s": round(self.video.duration_s, 4),
            },
            "audio": None
            if self.audio is None
            else {
                **asdict(self.audio),
                "start_s": round(self.audio.start_s, 4),
                "duration_s": round(self.audio.duration_s, 4),
            },
            "streams": [dict(s) for s in self.streams],
        }


# --------------------------------------------------------------------------------------------
# ffmpeg plumbing
# --------------------------------------------------------------------------------------------


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's, or ``IMAGEIO_FFMPEG_EXE`` if set)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def file_url(path: Path) -> str:
    # "file:" makes ffmpeg treat the rest as a plain path: a leading "-" is no option, a ":"
    # no protocol, and no URL decoding happens.
    return "file:" + str(Path(path).absolute())


def demuxer_args(
    container: Container = "mp4", *, max_streams: int = MediaLimits.max_streams
) -> list[str]:
    """The forced demuxer, protocol whitelist and stream cap for ``container`` (see the
    module docstring). ``max_streams``: what :func:`probe` allowed, or the default limit."""
    demuxer = _DEMUXERS.get(container, container)
    cap = ["-max_streams", str(max(1, max_streams))]
    if demuxer == "mov":
        return [*DEMUXER_ARGS, *cap]
    return ["-f", demuxer, "-protocol_whitelist", "file,pipe", *cap]


def input_args(
    path: Path, container: Container = "mp4", *, max_streams: int = MediaLimits.max_streams
) -> list[str]:
    return [*demuxer_args(container, max_streams=max_streams), "-i", file_url(path)]


def _ffmpeg(args: Sequence[str], *, timeout_s: float) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with ``args`` for its small outputs; a hang becomes ProcessingError."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    try:
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProcessingError(f"ffmpeg did not finish within {timeout_s:.0f} s") from None


def media_timeout_s(duration_s: float) -> float:
    return SUBPROCESS_BASE_TIMEOUT_S + SUBPROCESS_TIMEOUT_PER_MEDIA_S * max(duration_s, 0.0)


@dataclass
class _Stream:
    """A running ffmpeg whose pipes the caller drives; filled in as the run ends."""

    proc: subprocess.Popen[bytes]
    returncode: int = 0
    stderr: str = ""
    timed_out: bool = False
    start_clock: Callable[[], None] = lambda: None


@contextlib.contextmanager
def ffmpeg_stream(
    args: Sequence[str],
    *,
    timeout_s: float,
    stdin: bool = False,
    stdout: bool = True,
    clock_from_first_input: bool = False,
) -> Iterator[_Stream]:
    """Run ffmpeg with pipes the caller reads or writes incrementally, bounding memory.

    stderr goes to an unnamed temp file rather than a pipe: a broken file can print megabytes
    of errors, and nobody reads stderr while stdout or stdin is busy, so a pipe could deadlock.
    A timer kills ffmpeg after ``timeout_s``, and so does an exception in the block; a caller
    that stops reading early must kill ``proc`` itself. After the block, ``returncode`` and the
    tail of ``stderr`` are set; a timeout raises ProcessingError.

    ``clock_from_first_input``: the timer starts at ``run.start_clock()`` (or when the block
    ends) instead of now. An encoder opened early waits on its pipe while the clip is analysed,
    and a slow analysis (a cold model, a busy host) is not ffmpeg's time.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    with tempfile.TemporaryFile() as err:
        # From the spawn to the block that kills ffmpeg on error, a SIGTERM is held back
        # (core.interrupts): raised in between, it would orphan a running ffmpeg.
        interrupts.hold()
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                stderr=err,
            )
        except BaseException:
            interrupts.release()
            raise
        with proc:
            run = _Stream(proc)

            def expire() -> None:
                run.timed_out = True
                proc.kill()

            timer = threading.Timer(timeout_s, expire)
            clock = threading.Lock()

            def start_clock() -> None:
                with clock:
                    if not timer.is_alive() and not timer.finished.is_set():
                        timer.start()

            run.start_clock = start_clock
            if not clock_from_first_input:
                start_clock()
            try:
                interrupts.release()
                yield run
            except BaseException:
                proc.kill()
                raise
            finally:
                start_clock()  # a block that never fed the pipe still waits under the timer
                run.returncode = proc.wait()  # still under the timer
                timer.cancel()
        err.seek(max(0, err.seek(0, os.SEEK_END) - 4096))
        run.stderr = err.read().decode("utf-8", "replace")
    if run.timed_out:
        raise ProcessingError(f"ffmpeg did not finish within {timeout_s:.0f} s")


# --------------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------------


def sniff_container(head: bytes) -> Container:
    """Classify a file by its first bytes (at least 12; ``SNIFF_BYTES`` is plenty).

    Raises the input error that fits: :class:`Hostile` for playlists and concat scripts (they
    exist to make a player open other files), :class:`WebPage` for HTML, :class:`Unsupported
    Container` for real media in other containers, :class:`NotMedia` for anything else. An
    MP3 is only named here; :func:`core.media.containers.check_mp3` checks what is behind its tag.
    """
    if len(head) >= 8:
        size = int.from_bytes(head[0:4], "big")
        box = head[4:8]
        size_ok = size in (0, 1) or size >= 8
        if box == b"ftyp" and size_ok and len(head) >= 12:
            brand = head[8:12]
            if brand in _IMAGE_BRANDS:
                raise UnsupportedContainer("an ISO-BMFF still image", kind=brand.decode("latin-1"))
            if brand == b"qt  ":
                return "mov"
            if brand in _M4A_BRANDS:
                return "m4a"
            return "mp4"
        if box in _QT_LEADING_BOXES and size_ok:
            # Pre-ftyp QuickTime files start straight with a movie, data or padding box.
            return "mov"

    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if containers.id3v2_size(head) is not None or containers.is_mpeg_audio_frame(head):
        return "mp3"
    for magic, kind in _OTHER_CONTAINERS:
        if head.startswith(magic):
            raise UnsupportedContainer(f"{kind} container", kind=kind)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        raise UnsupportedContainer("raw MPEG audio/ADTS", kind="mpeg audio")
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        raise UnsupportedContainer("mpeg-ts container", kind="mpeg-ts")
    # Playlists and scripts are text; binary files may hold these markers by chance.
    if b"\x00" not in head:
        lowered = head.lower()
        if any(marker in lowered for marker in _REFERENCE_MARKERS):
            raise Hostile("a playlist or concat script, not a clip")
        if lowered.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_WEB_PAGE_STARTS):
            raise WebPage("an HTML page, not a recording")
    raise NotMedia("unrecognised leading bytes")


def _read_head(path: Path) -> tuple[int, bytes]:
    """Size and first bytes of a regular file; FIFOs, devices and folders are not media."""
    st = os.stat(path)  # a missing file is the caller's bug: FileNotFoundError
    if not stat.S_ISREG(st.st_mode):
        raise NotMedia("not a regular file")
    if st.st_size == 0:
        raise EmptyFile("zero bytes")
    with open(path, "rb") as f:
        return st.st_size, f.read(SNIFF_BYTES)


# --------------------------------------------------------------------------------------------
# Header parsing (ffmpeg -i stderr)
# --------------------------------------------------------------------------------------------

# Anchored at the indentation ffmpeg's dump uses (streams inside a "Stream group" sit two
# spaces deeper). Metadata values that contain newlines are re-indented behind "key : ", so
# they cannot forge these lines; a forged metadata *key* could, which is why the facts that
# matter are re-read from the framecrc header ffmpeg writes itself (see _PacketStats).
_DURATION_RE = re.compile(r"^  Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)", re.M)
_STREAM_RE = re.compile(
    r"^(?:  |    )Stream #0:(\d+)(?:\[0x[0-9a-fA-F]+\])?(?:\([^)]*\))?: "
    r"(Video|Audio|Data|Subtitle|Attachment): (.*)$"
)
_ROTATION_RE = re.compile(
    r"^ {4,}(?:Display Matrix|displaymatrix): rotation of (-?\d+(?:\.\d+)?) degrees", re.I
)
_SIZE_RE = re.compile(r", (\d{1,6})x(\d{1,6})(?=[ ,]|$)")
_TAG_RE = re.compile(r"\(([^()/]{1,8}) / 0x[0-9A-Fa-f]{1,8}\)")
_RATE_RE = re.compile(r", (\d{3,7}) Hz(?:, |$)")
_BITRATE_RE = re.compile(r", (\d+) kb/s")
_LAYOUT_NAMES = {
    "mono": 1,
    "stereo": 2,
    "downmix": 2,
    "binaural": 2,
    "quad": 4,
    "hexagonal": 6,
    "octagonal": 8,
    "hexadecagonal": 16,
    "cube": 8,
}


def channels_from_layout(layout: str) -> int | None:
    """Channel count of an ffmpeg layout description ("5.1(side)", "6 channels", "FL+FR")."""
    name = layout.split("(")[0].strip()
    if name in _LAYOUT_NAMES:
        return _LAYOUT_NAMES[name]
    if m := re.fullmatch(r"(\d+) channels?", layout.strip()):
        return int(m.group(1))
    if m := re.fullmatch(r"(\d+)\.(\d+)", name):
        return int(m.group(1)) + int(m.group(2))
    if "+" in name:
        return name.count("+") + 1
    return None


@dataclass
class _HeaderStream:
    index: int
    kind: str  # video | audio | data | subtitle | attachment
    codec: str
    description: str
    rotation_ccw: float = 0.0

    @property
    def attached_pic(self) -> bool:
        return "(attached pic)" in self.description

    @property
    def default(self) -> bool:
        return "(default)" in self.description


@dataclass
class _Header:
    duration_s: float | None
    streams: list[_HeaderStream]


def _parse_header(stderr: str) -> _Header:
    duration_s: float | None = None
    if (m := _DURATION_RE.search(stderr)) and m.group(1) is not None:
        duration_s = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    streams: list[_HeaderStream] = []
    for line in stderr.splitlines():
        if m := _STREAM_RE.match(line):
            rest = m.group(3)
            codec = rest.split(" ", 1)[0].rstrip(",")
            streams.append(_HeaderStream(int(m.group(1)), m.group(2).lower(), codec, rest))
        elif streams and (m := _ROTATION_RE.match(line)):
            streams[-1].rotation_ccw = float(m.group(1))
    return _Header(duration_s, streams)


def _pick(streams: list[_HeaderStream], kind: str) -> _HeaderStream | None:
    candidates = [s for s in streams if s.kind == kind and not s.attached_pic]
    defaults = [s for s in candidates if s.default]
    chosen = defaults or candidates
    return chosen[0] if chosen else None


# --------------------------------------------------------------------------------------------
# Packet scan (ffmpeg -c copy -f framecrc)
# --------------------------------------------------------------------------------------------


@dataclass
class _PacketStats:
    """One stream as the framecrc muxer saw it: ffmpeg's own facts, no user text inside."""

    time_base: Fraction = Fraction(1)
    header: dict[str, str] = field(default_factory=dict)
    pts: array[int] = field(default_factory=lambda: array("q"))
    durations: array[int] = field(default_factory=lambda: array("q"))

    @property
    def count(self) -> int:
        return len(self.pts)

    def start_s(self) -> float:
        return float(min(self.pts) * self.time_base) if self.pts else 0.0

    def end_s(self) -> float:
        if not self.pts:
            return 0.0
        ends = np.frombuffer(self.pts, np.int64) + np.frombuffer(self.durations, np.int64)
        return float(int(ends.max()) * self.time_base)


_FRAMECRC_HEADER_RE = re.compile(r"^#(\w+) (\d+): (.*)$")


def _parse_framecrc_line(line: str, stats: list[_PacketStats]) -> bool:
    """Fold one framecrc line into ``stats``; True when it was a packet."""
    if line.startswith("#"):
        if m := _FRAMECRC_HEADER_RE.match(line):
            name, index, value = m.group(1), int(m.group(2)), m.group(3).strip()
            if 0 <= index < len(stats):
                stats[index].header[name] = value
                num, _, den = value.partition("/")
                if name == "tb" and num.isdigit() and den.isdigit() and int(den) > 0:
                    stats[index].time_base = Fraction(int(num), int(den))
        return False
    parts = line.split(",")
    if len(parts) < 4 or not parts[0].strip().isdigit():
        return False
    index = int(parts[0])
    if 0 <= index < len(stats):
        stats[index].pts.append(int(parts[2]))
        stats[index].durations.append(int(parts[3]))
    return True


def _parse_framecrc(text: str, n_streams: int) -> list[_PacketStats]:
    stats = [_PacketStats() for _ in range(n_streams)]
    for line in text.splitlines():
        _parse_framecrc_line(line, stats)
    return stats


def _scan_packets(
    args: Sequence[str], n_streams: int, *, max_packets: int, timeout_s: float
) -> tuple[list[_PacketStats], int, str]:
    """Run an ffmpeg framecrc command, folding its lines as they stream in.

    Streaming keeps memory bounded by ``max_packets`` (a sample table can declare millions of
    one-byte packets); ffmpeg is stopped as soon as the cap is passed.

    Returns:
        (per-stream stats, ffmpeg's exit status, the tail of its stderr).
    """
    stats = [_PacketStats() for _ in range(n_streams)]
    n_packets = 0
    with ffmpeg_stream(args, timeout_s=timeout_s) as run:
        assert run.proc.stdout is not None
        for raw in run.proc.stdout:
            if _parse_framecrc_line(raw.decode("ascii", "replace"), stats):
                n_packets += 1
                if n_packets > max_packets:
                    run.proc.kill()
                    break
    if n_packets > max_packets:
        raise Corrupt("absurd number of packets", max_packets=max_packets)
    return stats, run.returncode, run.stderr


def _clock_ratio(decoded: _PacketStats) -> float:
    """How fast the stream's timestamps run against its samples (1.0 in every real file).

    ``decoded`` is framecrc of decoded frames: durations are sample counts and the time base
    is one sample, so each timestamp step should equal the frame before it. The median step
    ratio ignores a gap or a trimmed first frame; too few frames say nothing (1.0).
    """
    pts = np.asarray(decoded.pts, dtype=np.int64)
    durations = np.asarray(decoded.durations, dtype=np.int64)
    if pts.size < 3:
        return 1.0
    steps, lengths = np.diff(pts), durations[:-1]
    usable = lengths > 0
    if not usable.any():
        return 1.0
    ratio = float(np.median(steps[usable] / lengths[usable]))
    return ratio if ratio > 0 else 1.0


def _frame_rate(stats: _PacketStats) -> tuple[float, bool]:
    """(mean fps, variable-frame-rate flag) from presentation timestamps."""
    if stats.count < 2:
        return 0.0, False
    pts = np.sort(np.asarray(stats.pts, dtype=np.int64))
    deltas = np.diff(pts).astype(np.float64)
    deltas = deltas[deltas > 0]
    if deltas.size == 0:
        return 0.0, False
    span_s = float((pts[-1] - pts[0]) * stats.time_base)
    fps = (stats.count - 1) / span_s if span_s > 0 else 0.0
    median = float(np.median(deltas))
    spread = float(np.max(np.abs(deltas - median))) / median
    return fps, spread > VFR_TOLERANCE


# --------------------------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------------------------


def _check_picture(width: int, height: int, limits: MediaLimits) -> None:
    if width <= 0 or height <= 0:
        raise Corrupt("picture size unknown")
    if width * height > limits.max_pixels:
        raise TooBig(f"{width}x{height}", width=width, height=height, max_pixels=limits.max_pixels)


def _check_sound(sample_rate: int, channels: int, limits: MediaLimits) -> None:
    if sample_rate <= 0 or channels <= 0:
        raise Corrupt("audio format unknown")
    if channels > limits.max_channels:
        raise TooBig(f"{channels} channels", channels=channels, max_channels=limits.max_channels)
    if not limits.min_sample_rate <= sample_rate <= limits.max_sample_rate:
        raise TooBig(
            f"{sample_rate} Hz",
            sample_rate=sample_rate,
            min_sample_rate=limits.min_sample_rate,
            max_sample_rate=limits.max_sample_rate,
        )


def _check_duration(duration_s: float, limits: MediaLimits) -> None:
    if duration_s > limits.max_duration_s:
        raise TooLong(
            f"{duration_s:.1f} s",
            duration_s=round(duration_s, 1),
            max_duration_s=limits.max_duration_s,
        )


def _codec_allowed(container: str, codec: str) -> bool:
    if container == "wav":
        return codec.startswith("pcm_")
    return codec in AUDIO_CODECS.get(container, frozenset())


def _check_length(declared_s: float, packets_s: float) -> None:
    """The header's length (Xing frames, FLAC sample count...) must match the packets'."""
    if abs(declared_s - packets_s) > LENGTH_TOLERANCE_S + LENGTH_TOLERANCE * packets_s:
        raise LengthMismatch(
            f"header says {declared_s:.2f} s, the audio holds {packets_s:.2f} s",
            declared_s=round(declared_s, 2),
            actual_s=round(packets_s, 2),
        )


_SAMPLE_FORMAT_RE = re.compile(r", (u8|s16|s32|s64|flt|dbl)(p?)(?: \((\d+) bit\))?(?:,|$)")


def _sample_format(stream: _HeaderStream) -> dict[str, Any]:
    """``sample_format`` and ``bits_per_sample`` from an "Audio:" line (lossless re-encode)."""
    if m := _SAMPLE_FORMAT_RE.search(stream.description):
        return {
            "sample_format": m.group(1) + m.group(2),
            "bits_per_sample": int(m.group(3)) if m.group(3) else None,
        }
    return {}


def _header_sound(stream: _HeaderStream) -> tuple[int, int, str]:
    """(sample_rate, channels, layout) from an "Audio:" line; zeros when unreadable."""
    rate = _RATE_RE.search(stream.description)
    layout_m = re.search(r" Hz, ([^,]+)", stream.description)
    layout = layout_m.group(1).strip() if layout_m else ""
    return (int(rate.group(1)) if rate else 0), (channels_from_layout(layout) or 0), layout


@dataclass(frozen=True)
class _HeaderFacts:
    """What step 1 read off ffmpeg's header dump: the streams we use and their claims."""

    header: _Header
    stderr: str
    video: _HeaderStream | None
    audio: _HeaderStream
    width: int
    height: int
    channels: int
    channel_layout: str


@dataclass(frozen=True)
class _ScanFacts:
    """What step 2 counted: every packet of the used streams, and a few decoded frames."""

    video: _PacketStats | None
    audio: _PacketStats
    decoded: dict[int, _PacketStats]


def probe(
    path: str | os.PathLike[str],
    *,
    limits: MediaLimits = MediaLimits(),  # noqa: B008  (frozen, so one shared default is safe)
    require_video: bool = False,
) -> MediaInfo:
    """Check that ``path`` is a clip (MP4/MOV) or a recording (M4A, OGG, MP3, WAV, FLAC) we
    can correct, and describe it.

    Order matters for safety and cost: size and leading bytes first (no subprocess), then the
    header (limits refuse absurd durations, pictures and channel counts before anything is
    decoded), then one pass over every packet of the two streams we use without decoding (a
    truncated file shows up as a short read, a lying header as packets past the limit), then
    a few frames actually decoded (packets can be present and still be garbage).

    Args:
        path: the uploaded file; its name and suffix are never trusted.
        limits: bounds to enforce (``MediaLimits.from_env()`` in the bot).
        require_video: a chat clip needs a picture; the CLI also takes audio-only M4A.

    Returns:
        MediaInfo with ``audio`` always set, ``video`` None for audio-only files.

    Raises:
        EmptyFile, NotMedia, WebPage, Hostile, UnsupportedContainer, Corrupt, TooLarge,
        TooLong, TooBig, NotVideo, NoAudio, VideoInAudio, ChainedStream, OversizedTag,
        LengthMismatch (all :class:`core.errors.InputError`); ProcessingError if ffmpeg hangs.
    """
    path = Path(path)
    size_bytes, container = _sniff(path, limits)
    url = file_url(path)
    demuxer = demuxer_args(container, max_streams=limits.max_streams)
    facts = _read_header(url, demuxer, container, limits, require_video)
    scan = _scan(url, demuxer, facts, limits)
    return _describe(path, container, size_bytes, facts, scan, limits, require_video)


def _sniff(path: Path, limits: MediaLimits) -> tuple[int, Container]:
    """0. Size and leading bytes, no subprocess: what the file is, and the containers' own
    byte-level traps (core.media.containers) checked before ffmpeg reads a byte."""
    size_bytes, head = _read_head(path)
    if size_bytes > limits.max_bytes:
        raise TooLarge(f"{size_bytes} bytes", size_bytes=size_bytes, max_bytes=limits.max_bytes)
    container = sniff_container(head)
    if container == "mp3":
        containers.check_mp3(path, head, size_bytes)
    elif container == "ogg":
        containers.check_ogg(path)
    elif container == "wav":
        containers.check_wav(path, size_bytes)
    return size_bytes, container


def _read_header(
    url: str, demuxer: list[str], container: str, limits: MediaLimits, require_video: bool
) -> _HeaderFacts:
    """1. The header, as ffmpeg prints it; cheap refusals come first."""
    audio_only = container in AUDIO_CONTAINERS
    proc = _ffmpeg([*demuxer, "-i", url], timeout_s=PROBE_TIMEOUT_S)
    # Drop the echo of our own file name so no name can forge a header line.
    stderr = proc.stderr.decode("utf-8", "replace").replace(url, "<input>")
    if _MAX_STREAMS_RE.search(stderr):
        raise TooManyStreams(
            f"more than {limits.max_streams} streams", max_streams=limits.max_streams
        )
    if "Input #0" not in stderr:
        raise Corrupt("ffmpeg could not read the header", reason=stderr.strip()[-200:])
    header = _parse_header(stderr)
    if len(header.streams) > limits.max_streams:
        raise TooManyStreams(
            f"{len(header.streams)} streams",
            streams=len(header.streams),
            max_streams=limits.max_streams,
        )
    indices = [s.index for s in header.streams]
    if len(indices) != len(set(indices)):
        raise Corrupt("stream list is inconsistent")
    if header.duration_s is not None:
        _check_duration(header.duration_s, limits)
    video_h = _pick(header.streams, "video")
    audio_h = _pick(header.streams, "audio")
    if audio_only and video_h is not None:
        raise VideoInAudio(f"a {video_h.codec} picture stream in an {container.upper()} file")
    if require_video and video_h is None:
        raise NotVideo("no picture stream")
    if audio_h is None:
        raise NoAudio("no audio stream")
    width, height = 0, 0
    if video_h is not None:
        size_m = _SIZE_RE.search(video_h.description)
        width, height = (int(size_m.group(1)), int(size_m.group(2))) if size_m else (0, 0)
        _check_picture(width, height, limits)
    if audio_only and not _codec_allowed(container, audio_h.codec):
        kind = f"{container}/{audio_h.codec}"
        raise UnsupportedContainer(f"{audio_h.codec} audio in {container.upper()}", kind=kind)
    sample_rate, channels, channel_layout = _header_sound(audio_h)
    _check_sound(sample_rate, channels, limits)
    return _HeaderFacts(header, stderr, video_h, audio_h, width, height, channels, channel_layout)


def _scan(url: str, demuxer: list[str], facts: _HeaderFacts, limits: MediaLimits) -> _ScanFacts:
    """2. Every packet of the streams we use, copied, not decoded; and in the same run (one
    ffmpeg start less) a few frames of each actually decoded, one output per stream: ffmpeg
    ends an output as soon as any of its streams reaches its -frames count, which would
    starve a sound that starts late. Packets can be present and still be garbage."""
    used = [s for s in (facts.video, facts.audio) if s is not None]
    maps = [arg for s in used for arg in ("-map", f"0:{s.index}")]
    with tempfile.TemporaryDirectory(prefix="smask-probe-") as scratch:
        decoded_at = {s.index: Path(scratch) / f"{s.index}.crc" for s in used}
        decode_outputs = [
            arg
            for s in used
            for kind in (s.kind[0],)
            for arg in ("-map", f"0:{s.index}", f"-frames:{kind}",
                        str(DECODE_CHECK_FRAMES[kind]), "-f", "framecrc",
                        file_url(decoded_at[s.index]))
        ]  # fmt: skip
        packets, returncode, errors = _scan_packets(
            ["-v", "error", *demuxer, "-i", url, *maps, "-c", "copy", "-f", "framecrc",
             "pipe:1", *decode_outputs],
            len(used),
            max_packets=int(limits.max_duration_s * MAX_PACKETS_PER_S),
            timeout_s=PROBE_TIMEOUT_S,
        )  # fmt: skip
        decoded = {
            index: _parse_framecrc(path.read_text("ascii", "replace"), 1)[0]
            if path.exists()
            else _PacketStats()
            for index, path in decoded_at.items()
        }
    errors = errors.replace(url, "<input>").strip()
    if returncode != 0 or errors:
        raise Corrupt("packets unreadable", reason=errors[-200:])
    video_p = packets[0] if facts.video is not None else None
    return _ScanFacts(video_p, packets[-1], decoded)


def _describe(
    path: Path,
    container: Container,
    size_bytes: int,
    facts: _HeaderFacts,
    scan: _ScanFacts,
    limits: MediaLimits,
    require_video: bool,
) -> MediaInfo:
    """3. The facts that count, from the packets and the decoded frames rather than the
    header, checked against the limits once more, and the clip's description."""
    audio_only = container in AUDIO_CONTAINERS
    video_h, audio_h = facts.video, facts.audio
    video_p, audio_p = scan.video, scan.audio
    width, height = facts.width, facts.height
    # framecrc's own header is authoritative over the human-readable dump, and the decoder's
    # over the container's: the rate is what the frames decode to, whatever a header claims.
    if audio_p.header.get("media_type") != "audio":
        raise Corrupt("audio stream mismatch")
    audio_d = scan.decoded[audio_h.index]
    sample_rate = int(
        audio_d.header.get("sample_rate", "") or audio_p.header.get("sample_rate", "0") or 0
    )
    channel_layout = audio_p.header.get("channel_layout_name", facts.channel_layout)
    channels = channels_from_layout(channel_layout) or facts.channels
    _check_sound(sample_rate, channels, limits)
    if audio_p.count == 0:
        raise NoAudio("audio stream holds no packets")
    if video_p is not None:
        if video_p.header.get("media_type") != "video":
            raise Corrupt("video stream mismatch")
        w, _, h = video_p.header.get("dimensions", "0x0").partition("x")
        width, height = (int(w), int(h)) if w.isdigit() and h.isdigit() else (0, 0)
        _check_picture(width, height, limits)
        if video_p.count == 0:
            if require_video:
                raise NotVideo("picture stream holds no frames")
            video_h, video_p = None, None

    # Encoder priming sits at negative timestamps and is never shown, hence the clamp at 0.
    present = [p for p in (video_p, audio_p) if p is not None]
    timeline_start_s = max(0.0, min(p.start_s() for p in present))
    duration_s = max(p.end_s() for p in present) - timeline_start_s
    _check_duration(duration_s, limits)
    header_duration_s = facts.header.duration_s
    if audio_only and header_duration_s is not None and "Estimating duration" not in facts.stderr:
        _check_length(header_duration_s, duration_s)

    # The few frames decoded alongside the scan.
    for stream in (video_h, audio_h):
        if stream is not None and scan.decoded[stream.index].count == 0:
            raise Corrupt(f"{stream.kind} does not decode")
    audio_start_s = max(0.0, audio_p.start_s()) - timeline_start_s
    audio_duration_s = audio_p.end_s() - max(0.0, audio_p.start_s())
    clock = _clock_ratio(audio_d)
    retimed = abs(clock - 1.0) > CLOCK_TOLERANCE
    if retimed:
        # Timestamps that tick at another rate than the samples would make the decode squeeze
        # or stretch the sound to fit them. Without a picture there is nothing to keep in sync
        # with, so the samples' own count is the length; beside a picture, which clock is
        # right cannot be told, so the clip is refused.
        if video_h is not None:
            raise LengthMismatch(
                f"the sound's timestamps run {clock:.3f} times its sample rate",
                clock_ratio=round(clock, 3),
            )
        audio_duration_s /= clock
        audio_start_s = 0.0
        duration_s = audio_duration_s
        _check_duration(duration_s, limits)

    video: VideoInfo | None = None
    if video_h is not None and video_p is not None:
        fps, vfr = _frame_rate(video_p)
        tag = _TAG_RE.search(video_h.description)
        video = VideoInfo(
            index=video_h.index,
            codec=video_p.header.get("codec_id", video_h.codec),
            codec_tag=tag.group(1) if tag else None,
            width=width,
            height=height,
            rotation=round(-video_h.rotation_ccw) % 360,
            fps=fps,
            vfr=vfr,
            frames=video_p.count,
            duration_s=video_p.end_s() - max(0.0, video_p.start_s()),
        )
    bitrate = _BITRATE_RE.search(audio_h.description)
    audio = AudioInfo(
        index=audio_h.index,
        codec=audio_p.header.get("codec_id", audio_h.codec),
        sample_rate=sample_rate,
        channels=channels,
        channel_layout=channel_layout,
        bit_rate_kbps=int(bitrate.group(1)) if bitrate else None,
        start_s=audio_start_s,
        duration_s=audio_duration_s,
        **_sample_format(audio_h),
        retimed=retimed,
    )
    used_indices = {audio.index} | ({video.index} if video else set())
    streams = [
        {"index": s.index, "type": s.kind, "codec": s.codec, "used": s.index in used_indices}
        for s in facts.header.streams
    ]
    return MediaInfo(
        path=path,
        container=container,
        duration_s=duration_s,
        size_bytes=size_bytes,
        video=video,
        audio=audio,
        streams=streams,
    )
