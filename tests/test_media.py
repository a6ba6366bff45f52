"""core.media.probe and core.media.io on real clips: probe facts, decode, and the write-back round
trip.

The round trip is the promise the bot makes: the picture comes back bit for bit, the sound
comes back in the same place, at the same rate and channel count, and the clip lasts as long.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from media_factory import ClipSpec, MediaFactory, header_text, packet_md5, packets, stream_kinds

from core.errors import Corrupt, NotVideo, ProcessingError
from core.limits import MediaLimits
from core.media.io import AAC_FRAME_SAMPLES, decode_audio, write_result
from core.media.probe import MediaInfo, probe

ROUND_TRIP = [
    ClipSpec("h264_aac_stereo_48k"),
    ClipSpec("hevc_aac_mono_44k", video="hevc", channels=1, sample_rate=44100),
    ClipSpec("h264_mp3_stereo_44k", audio="mp3", sample_rate=44100),
    ClipSpec("h264_pcm_mono_22k_mov", container="mov", audio="pcm", channels=1, sample_rate=22050),
    ClipSpec("h264_aac_51_48k", channels=6),
    ClipSpec("h264_aac_stereo_96k", sample_rate=96000),
    ClipSpec("portrait_rotated_mov", container="mov", rotation_cw=90),
    ClipSpec("vfr_h264_aac", vfr=True),
    ClipSpec("extra_data_and_subtitle", data_stream=True, subtitle=True),
    ClipSpec("moov_at_end", faststart=False),
    ClipSpec("audio_starts_late", audio_delay_s=0.5),
    ClipSpec("audio_only_m4a", container="ipod", video=None, channels=1),
]
MIN_CORRELATION = 0.95


def best_alignment(
    reference: npt.NDArray[np.float32], other: npt.NDArray[np.float32], max_lag: int
) -> tuple[float, int]:
    """(normalised cross-correlation, lag in samples) at the best lag within ``max_lag``."""
    n = min(reference.size, other.size)
    a = reference[:n].astype(np.float64)
    b = other[:n].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    xcorr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = xcorr[lags % size]
    best = int(np.argmax(values))
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(values[best] / norm), int(lags[best])


def top_level_boxes(path: Path) -> list[bytes]:
    """ISO-BMFF top-level box types in file order."""
    boxes = []
    with open(path, "rb") as f:
        while header := f.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            boxes.append(kind)
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            elif size == 0:
                break
            f.seek(size - 8, os.SEEK_CUR)
    return boxes


@pytest.fixture(scope="module", params=ROUND_TRIP, ids=lambda spec: spec.name)
def round_trip(
    request: pytest.FixtureRequest, media: MediaFactory, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ClipSpec, Path, MediaInfo, Path, MediaInfo]:
    """Probe, decode and write each variant once; the tests below inspect the result."""
    spec: ClipSpec = request.param
    src = media.clip(spec)
    info = probe(src)
    audio = decode_audio(src, info)
    out_dir = tmp_path_factory.mktemp(f"out_{spec.name}")
    dst = out_dir / f"corrected{spec.suffix}"
    write_result(src, dst, audio, info)
    assert sorted(p.name for p in out_dir.iterdir()) == [dst.name], "temp file left behind"
    return spec, src, info, dst, probe(dst)


def test_probe_reports_what_was_encoded(
    round_trip: tuple[ClipSpec, Path, MediaInfo, Path, MediaInfo],
) -> None:
    spec, src, info, _, _ = round_trip
    expected_container = {"mov": "mov", "ipod": "m4a"}.get(spec.container, "mp4")
    assert info.container == expected_container
    assert info.size_bytes == src.stat().st_size
    assert info.duration_s == pytest.approx(spec.duration_s + spec.audio_delay_s, abs=0.05)
    assert info.audio is not None
    assert info.audio.sample_rate == spec.sample_rate
    assert info.audio.channels == spec.channels
    assert info.audio.codec == {"aac": "aac", "mp3": "mp3", "pcm": "pcm_s16le"}[str(spec.audio)]
    if spec.video is None:
        assert not info.has_video and info.video is None
        return
    assert info.video is not None and info.has_video
    assert info.video.codec == spec.video
    assert (info.video.width, info.video.height) == (160, 120)
    assert info.video.rotation == spec.rotation_cw
    assert info.video.vfr == spec.vfr
    if not spec.vfr:
        assert info.video.fps == pytest.approx(spec.fps, rel=1e-3)
    if spec.rotation_cw == 90:
        assert info.video.display_size == (120, 160)
    json.loads(json.dumps(info.to_dict()))  # what `smask probe` prints must be plain JSON


def test_picture_is_copied_bit_for_bit(
    round_trip: tuple[ClipSpec, Path, MediaInfo, Path, MediaInfo],
) -> None:
    spec, src, info, dst, out = round_trip
    if spec.video is None:
        assert out.video is None
        assert stream_kinds(dst) == ["audio"]
        return
    assert info.video is not None and out.video is not None
    assert packet_md5(dst) == packet_md5(src)
    before, after = packets(src), packets(dst)
    assert [p.pts_s for p in after] == pytest.approx([p.pts_s for p in before], abs=1e-3)
    assert out.video.rotation == info.video.rotation
    assert out.video.codec_tag == info.video.codec_tag
    assert out.video.vfr == info.video.vfr


def test_sound_keeps_format_duration_and_place(
    round_trip: tuple[ClipSpec, Path, MediaInfo, Path, MediaInfo],
) -> None:
    _, src, info, dst, out = round_trip
    assert info.audio is not None and out.audio is not None
    assert out.audio.codec == "aac"
    assert out.audio.sample_rate == info.audio.sample_rate
    assert out.audio.channels == info.audio.channels
    one_frame_s = AAC_FRAME_SAMPLES / info.audio.sample_rate
    assert abs(out.duration_s - info.duration_s) <= one_frame_s

    before, after = decode_audio(src, info), decode_audio(dst, out)
    assert after.shape[0] == before.shape[0]
    assert abs(after.shape[1] - before.shape[1]) <= AAC_FRAME_SAMPLES
    for channel in range(before.shape[0]):
        correlation, lag = best_alignment(before[channel], after[channel], AAC_FRAME_SAMPLES)
        assert correlation > MIN_CORRELATION, f"channel {channel}: r={correlation:.3f}"
        assert lag == 0, f"channel {channel} moved by {lag} samples"


def test_late_sound_stays_late(
    round_trip: tuple[ClipSpec, Path, MediaInfo, Path, MediaInfo],
) -> None:
    """Lip sync: the sweep starts where it started on the original timeline."""
    spec, _, info, dst, out = round_trip
    assert info.audio is not None
    onset_s = int(np.argmax(np.abs(decode_audio(dst, out)[0]) > 0.05)) / info.audio.sample_rate
    assert onset_s == pytest.approx(spec.audio_delay_s, abs=0.002)


def test_container_streams_and_metadata_on_purpose(
    round_trip: tuple[ClipSpec, Path, MediaInfo, Path, MediaInfo],
) -> None:
    spec, _, info, dst, out = round_trip
    boxes = top_level_boxes(dst)
    assert boxes.index(b"moov") < boxes.index(b"mdat"), "not faststart"
    with open(dst, "rb") as f:
        brand = f.read(12)[8:12]
    expected_brand = {"mov": b"qt  ", "m4a": b"M4A "}.get(out.container, b"isom")
    assert brand == expected_brand
    assert out.container == (info.container if info.has_video else "m4a")
    # Data and subtitle tracks are dropped on purpose; one picture, one sound remain.
    assert stream_kinds(dst) == (["video", "audio"] if spec.video else ["audio"])
    text = header_text(dst)
    assert f"title           : {spec.title}" in text
    assert "(rus): Audio" in text  # the audio stream's language survived the re-encode


def test_decode_audio_is_float32_on_the_timeline(media: MediaFactory) -> None:
    spec = ClipSpec("h264_aac_stereo_48k")
    info = probe(media.clip(spec))
    audio = decode_audio(media.clip(spec), info)
    assert audio.dtype == np.float32 and audio.flags["C_CONTIGUOUS"]
    assert audio.shape[0] == 2
    assert audio.shape[1] == pytest.approx(spec.duration_s * spec.sample_rate, abs=1024)
    # The sweeps are 0.4 full scale (AAC overshoots a little at the abrupt start).
    assert float(np.percentile(np.abs(audio), 99)) == pytest.approx(0.4, abs=0.03)
    # Different sweeps per channel: the two rows are not the same signal.
    assert abs(float(np.corrcoef(audio[0], audio[1])[0, 1])) < 0.5


def test_write_result_replaces_in_place(media: MediaFactory, tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(media.clip(ClipSpec("h264_aac_stereo_48k")).read_bytes())
    info = probe(src)
    video_md5 = packet_md5(src)
    write_result(src, src, np.zeros((2, 48000), np.float32), info)
    assert packet_md5(src) == video_md5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert stat.S_IMODE(src.stat().st_mode) == 0o644  # not mkstemp's owner-only mode


def test_write_result_failure_leaves_nothing(media: MediaFactory, tmp_path: Path) -> None:
    src = media.clip(ClipSpec("h264_aac_stereo_48k"))
    info = probe(src)
    assert info.video is not None
    broken = replace(info, video=replace(info.video, index=9))  # ffmpeg will find no stream 9
    dst = tmp_path / "out.mp4"
    with pytest.raises(ProcessingError):
        write_result(src, dst, np.zeros((2, 1000), np.float32), broken)
    with pytest.raises(ValueError, match="audio must be"):
        write_result(src, dst, np.zeros((1, 1000), np.float32), info)
    with pytest.raises(ValueError, match="NaN"):
        write_result(src, dst, np.full((2, 1000), np.nan, np.float32), info)
    assert list(tmp_path.iterdir()) == []


def test_limits_from_env() -> None:
    limits = MediaLimits.from_env(
        {"SMASK_MAX_BYTES": "1000", "SMASK_MAX_DURATION_S": "2.5", "SMASK_MAX_CHANNELS": "2"}
    )
    assert (limits.max_bytes, limits.max_duration_s, limits.max_channels) == (1000, 2.5, 2)
    assert limits.max_pixels == MediaLimits().max_pixels
    assert MediaLimits.from_env({}) == MediaLimits()
    assert MediaLimits.from_env({"SMASK_MAX_BYTES": "200e6"}).max_bytes == 200_000_000
    with pytest.raises(ValueError, match="whole number"):
        MediaLimits.from_env({"SMASK_MAX_CHANNELS": "2.5"})
    with pytest.raises(ValueError, match="SMASK_MAX_PIXELS"):
        MediaLimits.from_env({"SMASK_MAX_PIXELS": "lots"})
    with pytest.raises(ValueError, match="positive"):
        MediaLimits(max_bytes=0)


def test_real_portrait_mov(shared_dir: Path, tmp_path: Path) -> None:
    src = shared_dir / "eval" / "kids_tree_portrait.mov"
    info = probe(src, require_video=True)
    assert info.container == "mov" and info.video is not None and info.audio is not None
    assert (info.audio.channels, info.audio.sample_rate) == (2, 48000)
    dst = tmp_path / "out.mov"
    write_result(src, dst, decode_audio(src, info), info)
    assert packet_md5(dst) == packet_md5(src)


def test_rate_aac_cannot_carry_drops_to_the_nearest_lower(
    media: MediaFactory, tmp_path: Path
) -> None:
    src = media.clip(
        ClipSpec("pcm_192k_mov", container="mov", audio="pcm", channels=1, sample_rate=192000)
    )
    info = probe(src)
    assert info.audio is not None and info.audio.sample_rate == 192000
    audio = decode_audio(src, info)
    dst = tmp_path / "out.mov"
    write_result(src, dst, audio, info)
    out = probe(dst)
    assert out.audio is not None and out.audio.sample_rate == 96000
    assert abs(out.duration_s - info.duration_s) <= AAC_FRAME_SAMPLES / 96000
    assert packet_md5(dst) == packet_md5(src)


def test_decode_refuses_audio_far_longer_than_probed(media: MediaFactory) -> None:
    """The decode buffer is sized from the probe; a stream that overruns it is not trusted."""
    src = media.clip(ClipSpec("h264_aac_stereo_48k"))
    info = probe(src)
    with pytest.raises(Corrupt, match="past the container"):
        decode_audio(src, replace(info, duration_s=0.5))


def test_cover_art_is_not_a_picture(media: MediaFactory, tmp_path: Path) -> None:
    spec = ClipSpec("m4a_with_cover", container="ipod", video=None, cover_art=True)
    src = media.clip(spec)
    info = probe(src)
    assert not info.has_video
    assert [(s["type"], s["used"]) for s in info.streams] == [("audio", True), ("video", False)]
    with pytest.raises(NotVideo):
        probe(src, require_video=True)
    dst = tmp_path / "out.m4a"
    write_result(src, dst, decode_audio(src, info), info)
    assert stream_kinds(dst) == ["audio"]
