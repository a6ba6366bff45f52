"""Test clips made on the spot by the real ffmpeg, plus the ffmpeg look-ups tests assert on.

Clips are tiny (160x120, two seconds) so the whole media suite stays fast, but each one is a
real encode with the codec, rate, layout and quirk it names. Audio is a per-channel sweep:
unlike a steady sine it has exactly one best alignment, so a cross-correlation can prove both
that the sound survived and that it did not move in time.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
LFE_CHANNEL = {6: 3}  # channel index of the LFE in ffmpeg's 5.1 order (FL FR FC LFE BL BR)


@dataclass(frozen=True)
class ClipSpec:
    """One generated clip. ``container`` is the muxer ffmpeg writes (mp4, mov, ipod, webm,
    matroska); ``video``/``audio`` name the encoder family or None for no such stream."""

    name: str
    container: str = "mp4"
    video: str | None = "h264"  # h264 | hevc | vp8
    audio: str | None = "aac"  # aac | mp3 | pcm | opus
    sample_rate: int = 48000  # Hz
    channels: int = 2
    duration_s: float = 2.0
    size: str = "160x120"
    fps: int = 25
    rotation_cw: int = 0  # degrees a player turns the picture clockwise
    vfr: bool = False
    data_stream: bool = False  # a QuickTime timecode (tmcd) track
    subtitle: bool = False  # a mov_text track
    cover_art: bool = False  # an attached MJPEG picture, as music files carry
    audio_delay_s: float = 0.0  # the sound track starts this long after the picture
    silent: bool = False
    faststart: bool = True
    title: str = "smask test clip"

    @property
    def suffix(self) -> str:
        return {"ipod": ".m4a", "matroska": ".mkv", "webm": ".webm", "mov": ".mov"}.get(
            self.container, ".mp4"
        )


def run_ffmpeg(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[bytes]:
    """ffmpeg with the exit status checked: a test clip that failed to build is a test bug."""
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *args],
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr.decode()[-800:]}")
    return proc


def sweep_expression(channels: int, duration_s: float, sample_rate: int) -> str:
    """aevalsrc expression: one linear sweep per channel, each in its own band.

    Different bands per channel make a swapped channel order fail the correlation test. The LFE
    channel of 5.1 stays below 120 Hz, where AAC keeps it.
    """
    exprs = []
    top_hz = min(3000.0, sample_rate / 4)
    for ch in range(channels):
        if LFE_CHANNEL.get(channels) == ch:
            f0, f1 = 40.0, 110.0
        else:
            f0 = 150.0 + 90.0 * ch
            f1 = top_hz - 150.0 * ch
        k = (f1 - f0) / duration_s  # Hz per second
        exprs.append(f"0.4*sin(2*PI*({f0}*t+{k / 2}*t*t))")
    return "|".join(exprs)


def make_clip(spec: ClipSpec, path: Path) -> Path:
    """Encode ``spec`` into ``path`` (any name; the muxer is forced)."""
    inputs: list[str] = []
    maps: list[str] = []
    codecs: list[str] = []
    n = 0
    if spec.video is not None:
        inputs += ["-f", "lavfi", "-i", f"testsrc=size={spec.size}:rate={spec.fps}"]
        maps += ["-map", f"{n}:v"]
        n += 1
        codecs += {
            "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
            "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                     "-tag:v", "hvc1", "-pix_fmt", "yuv420p"],
            "vp8": ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k"],
        }[spec.video]  # fmt: skip
        if spec.vfr:
            # Drop three frames of every ten and keep the source timestamps: real gaps.
            codecs += ["-vf", r"select=lt(mod(n\,10)\,7)", "-fps_mode", "vfr"]
    if spec.audio is not None:
        layout = LAYOUTS[spec.channels]
        if spec.silent:
            source = f"anullsrc=r={spec.sample_rate}:cl={layout}"
        else:
            expr = sweep_expression(spec.channels, spec.duration_s, spec.sample_rate)
            source = f"aevalsrc={expr}:s={spec.sample_rate}:c={layout}"
        inputs += ["-f", "lavfi", "-i", source]
        maps += ["-map", f"{n}:a"]
        n += 1
        codecs += {
            "aac": ["-c:a", "aac", "-b:a", f"{96 * spec.channels}k"],
            "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
            "pcm": ["-c:a", "pcm_s16le"],
            "opus": ["-c:a", "libopus", "-b:a", "96k"],
        }[spec.audio]
        codecs += ["-metadata:s:a:0", "language=rus"]
    if spec.subtitle:
        srt = path.with_name(path.name + ".srt")
        srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nla la la\n\n", encoding="utf-8")
        inputs += ["-i", str(srt)]
        maps += ["-map", f"{n}:s"]
        codecs += ["-c:s", "mov_text"]
    if spec.cover_art:
        inputs += ["-f", "lavfi", "-i", "color=c=red:size=64x64:d=0.04:r=25"]
        maps += ["-map", f"{n}:v"]
        n += 1
        codecs += ["-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
    if spec.data_stream:
        codecs += ["-timecode", "00:00:00:00"]
    muxing = ["-movflags", "+faststart"] if spec.faststart and spec.container != "webm" else []
    if spec.container in ("webm", "matroska"):
        muxing = []
    run_ffmpeg(
        "-y", *inputs, *maps, *codecs, "-t", f"{spec.duration_s}", "-metadata",
        f"title={spec.title}", *muxing, "-f", spec.container, str(path),
    )  # fmt: skip
    if spec.audio_delay_s:
        delayed = path.with_name(path.name + ".delay")
        run_ffmpeg(
            "-y", "-i", str(path), "-itsoffset", f"{spec.audio_delay_s}", "-i", str(path),
            "-map", "0:v", "-map", "1:a", "-c", "copy", "-map_metadata", "0",
            *muxing, "-f", spec.container, str(delayed),
        )  # fmt: skip
        delayed.replace(path)
    if spec.rotation_cw:
        rotated = path.with_name(path.name + ".rot")
        # -display_rotation is counter-clockwise; phones' "rotate" is clockwise.
        run_ffmpeg(
            "-y", "-display_rotation:v:0", str(-spec.rotation_cw), "-i", str(path),
            "-map", "0", "-c", "copy", *muxing, "-f", spec.container, str(rotated),
        )  # fmt: skip
        rotated.replace(path)
    return path


class MediaFactory:
    """Builds each named clip once per test session under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[ClipSpec, Path] = {}

    def clip(self, spec: ClipSpec) -> Path:
        if spec not in self._made:
            self._made[spec] = make_clip(spec, self.root / f"{spec.name}{spec.suffix}")
        return self._made[spec]


# --------------------------------------------------------------------------------------------
# Look-ups the tests assert on
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    pts_s: float
    size: int
    md5: str


def packets(path: Path, selector: str = "0:v:0") -> list[Packet]:
    """Every packet of one stream, copied (not decoded): time, size and payload md5."""
    proc = run_ffmpeg("-i", str(path), "-map", selector, "-c", "copy", "-f", "framemd5", "-")
    time_base = Fraction(1)
    found = []
    for line in proc.stdout.decode().splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            found.append(Packet(float(int(fields[2]) * time_base), int(fields[4]), fields[5]))
    assert found, f"no packets in {selector} of {path}"
    return found


def packet_md5(path: Path, selector: str = "0:v:0") -> str:
    """One md5 over every packet payload of a stream, in order."""
    digest = hashlib.md5()
    for packet in packets(path, selector):
        digest.update(packet.md5.encode())
    return digest.hexdigest()


def stream_kinds(path: Path) -> list[str]:
    """Media type of every stream, in order ("video", "audio", "data", "subtitle")."""
    proc = run_ffmpeg(
        "-i", str(path), "-map", "0", "-c", "copy", "-t", "0.1", "-f", "framecrc", "-"
    )
    kinds: dict[int, str] = {}
    for line in proc.stdout.decode().splitlines():
        if line.startswith("#media_type "):
            key, _, value = line[len("#media_type ") :].partition(":")
            kinds[int(key)] = value.strip()
    return [kinds[i] for i in sorted(kinds)]


def header_text(path: Path) -> str:
    """ffmpeg's human-readable description of ``path`` (stderr of ``ffmpeg -i``)."""
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.stderr.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Audio files (voice messages and audio sent as documents)
# --------------------------------------------------------------------------------------------

# (muxer, encoder arguments) per audio format name used by the tests.
AUDIO_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ogg_opus": ("ogg", ("-c:a", "libopus", "-b:a", "96k")),
    "ogg_vorbis": ("ogg", ("-c:a", "libvorbis", "-q:a", "5")),
    "mp3": ("mp3", ("-c:a", "libmp3lame", "-b:a", "160k")),
    "m4a": ("ipod", ("-c:a", "aac", "-b:a", "128k")),
    "wav_s16": ("wav", ("-c:a", "pcm_s16le")),
    "wav_s24": ("wav", ("-c:a", "pcm_s24le")),
    "flac_16": ("flac", ("-c:a", "flac", "-sample_fmt", "s16")),
    "flac_24": ("flac", ("-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24")),
}


def tone_expression(notes: list[tuple[float, float]], *, harmonics: int = 4) -> str:
    """aevalsrc expression of held notes: ``[(f0_hz, seconds), ...]`` one after another.

    Each note is a harmonic tone with 20 ms fades, so a pitch tracker sees clean onsets. The
    phase restarts per note, which is what a player's new bow stroke or breath does too.
    """
    terms = []
    start = 0.0
    for f0_hz, seconds in notes:
        end = start + seconds
        gate = f"between(t,{start:.4f},{end:.4f})*min(1,min(t-{start:.4f},{end:.4f}-t)/0.02)"
        tone = "+".join(
            f"{0.45 / k:.3f}*sin(2*PI*{f0_hz * k:.4f}*(t-{start:.4f}))"
            for k in range(1, harmonics + 1)
        )
        terms.append(f"{gate}*({tone})")
        start = end
    return "+".join(terms).replace(",", "\\,")  # commas would end the filter's argument


def make_audio(
    path: Path,
    fmt: str,
    *,
    expression: str | None = None,
    duration_s: float = 2.0,
    sample_rate: int = 44100,
    channels: int = 1,
    extra: tuple[str, ...] = (),
) -> Path:
    """An audio-only file in ``fmt`` (a key of ``AUDIO_FORMATS``) at ``path`` (any name).

    ``expression`` is an aevalsrc expression in ``t`` (the same on every channel); the default
    is the per-channel sweep of :func:`sweep_expression`. ``extra`` are output arguments
    (metadata, ID3 options) placed before the muxer.
    """
    muxer, codec = AUDIO_FORMATS[fmt]
    layout = LAYOUTS[channels]
    expr = expression or sweep_expression(channels, duration_s, sample_rate)
    if expression is not None and channels > 1:
        expr = "|".join([expression] * channels)
    run_ffmpeg(
        "-y", "-f", "lavfi", "-i", f"aevalsrc={expr}:s={sample_rate}:c={layout}:d={duration_s}",
        *codec, *extra, "-f", muxer, str(path),
    )  # fmt: skip
    return path


def make_many_streams(path: Path, n_streams: int, *, duration_s: float = 2.0) -> Path:
    """An M4A whose one short AAC track is copied into ``n_streams`` tracks.

    The track is encoded once and the copies are muxed without re-encoding, so even 999
    streams take about a second to build, while every one of them is a real, decodable
    stream that ffmpeg must open (issue 26's 5.6 MB M4A).
    """
    one = path.with_name(path.stem + ".one.m4a")
    run_ffmpeg(
        "-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={duration_s}:sample_rate=44100",
        "-c:a", "aac", "-b:a", "16k", "-f", "ipod", str(one),
    )  # fmt: skip
    maps = [arg for _ in range(n_streams) for arg in ("-map", "0:a")]
    run_ffmpeg("-y", "-i", str(one), *maps, "-c", "copy", "-f", "ipod", str(path))
    one.unlink()
    return path


def claim_flac_rate(src: Path, dst: Path, sample_rate: int) -> Path:
    """``src`` (a FLAC) with its STREAMINFO sample rate replaced by ``sample_rate``.

    The frames keep their own rate in their headers: a header that lies about the rate, as
    a broken tagger or a hostile sender writes (issue 26). STREAMINFO is the first metadata
    block; its rate is the 20 bits at byte 18 (after "fLaC", the block header, the block and
    frame sizes).
    """
    data = bytearray(src.read_bytes())
    if data[:4] != b"fLaC" or data[4] & 0x7F != 0:
        raise ValueError(f"{src} does not start with a FLAC STREAMINFO block")
    field = int.from_bytes(data[18:21], "big")
    data[18:21] = ((sample_rate << 4) | (field & 0xF)).to_bytes(3, "big")
    dst.write_bytes(bytes(data))
    return dst


def decoded_samples(path: Path) -> tuple[int, int]:
    """(samples per channel, sample rate) as ffmpeg's decoder gives them, timestamps ignored.

    The plain decode a player does: every sample of every frame at the frames' own rate, so a
    header that lies about the rate or length changes nothing here.
    """
    probe_out = run_ffmpeg("-i", str(path), "-map", "0:a:0", "-frames:a", "1", "-f", "framecrc",
                           "-")  # fmt: skip
    rate = int(probe_out.stdout.decode().split("#sample_rate 0: ", 1)[1].split()[0])
    raw = run_ffmpeg("-i", str(path), "-map", "0:a:0", "-ac", "1", "-c:a", "pcm_s16le",
                     "-f", "s16le", "-")  # fmt: skip
    return len(raw.stdout) // 2, rate
