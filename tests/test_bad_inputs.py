"""Every input the bot must refuse, each with its own error code and nothing left on disk.

Each case runs the same steps the pipeline runs (probe, decode, silence check, write), so a
refusal at any step is caught, and then checks that neither the output folder nor the temp
folder gained a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from media_factory import ClipSpec, MediaFactory, make_audio, packet_md5, run_ffmpeg

from core.errors import (
    INPUT_ERROR_CODES,
    ChainedStream,
    Corrupt,
    EmptyFile,
    Hostile,
    InputError,
    LengthMismatch,
    NoAudio,
    NotMedia,
    NotVideo,
    OversizedTag,
    ProcessingError,
    Silent,
    TooBig,
    TooLarge,
    TooLong,
    UnsupportedContainer,
    VideoInAudio,
    WebPage,
)
from core.limits import MediaLimits
from core.media import probe as probe_mod
from core.media.audio import check_not_silent
from core.media.io import decode_audio, write_result
from core.media.probe import probe, sniff_container

GOOD = ClipSpec("h264_aac_stereo_48k")
# A real two-hour clip, cheap to make: 16x16 at 1 fps with silent 8 kHz sound (about 600 kB).
TWO_HOURS = ClipSpec(
    "two_hours", size="16x16", fps=1, channels=1, sample_rate=8000, duration_s=7200.0, silent=True
)
Maker = Callable[[MediaFactory, Path], Path]


def process(src: Path, out_dir: Path, *, limits: MediaLimits, require_video: bool) -> Path:
    """What core.pipeline does around the retuner, with the audio passed through unchanged."""
    info = probe(src, limits=limits, require_video=require_video)
    audio = decode_audio(src, info)
    check_not_silent(audio, info.sample_rate)
    dst = out_dir / ("result" + (".mp4" if info.has_video else ".m4a"))
    write_result(src, dst, audio, info)
    return dst


@pytest.fixture
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(input dir, output dir, temp dir); tempfile is pointed at the last so leftovers show."""
    dirs = tuple(tmp_path / name for name in ("in", "out", "tmp"))
    for d in dirs:
        d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(dirs[2]))
    return dirs  # type: ignore[return-value]


def _copy(media: MediaFactory, spec: ClipSpec, dst: Path) -> Path:
    shutil.copyfile(media.clip(spec), dst)
    return dst


def _truncated(media: MediaFactory, spec: ClipSpec, dst: Path) -> Path:
    data = media.clip(spec).read_bytes()
    dst.write_bytes(data[: len(data) * 6 // 10])
    return dst


def _absurd_duration(media: MediaFactory, dst: Path) -> Path:
    """A clip whose sample table claims every video frame lasts 13 minutes."""
    data = bytearray(media.clip(GOOD).read_bytes())
    stts = data.find(b"stts")  # the first track is the video track
    assert int.from_bytes(data[stts + 8 : stts + 12], "big") == 1  # one (count, delta) entry
    data[stts + 16 : stts + 20] = (10_000_000).to_bytes(4, "big")  # ticks of 1/12800 s
    dst.write_bytes(bytes(data))
    return dst


def _ogg_with_theora(dst: Path) -> Path:
    """A Theora picture multiplexed with the Vorbis sound: an OGG "audio" file with a video."""
    run_ffmpeg(
        "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:d=2", "-f", "lavfi",
        "-i", "sine=f=440:d=2", "-c:v", "libtheora", "-c:a", "libvorbis", "-f", "ogg", str(dst),
    )  # fmt: skip
    return dst


def _ogg_chained(dst: Path) -> Path:
    """Two complete Opus streams one after the other (OGG "chaining"): two takes in one file."""
    one = make_audio(dst.with_name("one.ogg"), "ogg_opus")
    dst.write_bytes(one.read_bytes() * 2)
    one.unlink()
    return dst


def _append(path: Path, tail: bytes) -> Path:
    """An upload cut inside what follows: ``tail`` is the start of a next page or chunk."""
    with path.open("ab") as f:
        f.write(tail)
    return path


def _cut(path: Path, share: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def _mp3_huge_id3(dst: Path) -> Path:
    """A real MP3 behind an ID3v2.4 tag of 6 MiB of padding (syncsafe size)."""
    audio = make_audio(dst.with_name("plain.mp3"), "mp3").read_bytes()
    body = 6 * 1024 * 1024
    size = bytes((body >> shift) & 0x7F for shift in (21, 14, 7, 0))
    dst.write_bytes(b"ID3\x04\x00\x00" + size + b"\x00" * body + audio)
    dst.with_name("plain.mp3").unlink()
    return dst


def _mp3_false_xing(dst: Path) -> Path:
    """LAME's Info frame says the file holds fifty times the frames it has."""
    data = bytearray(make_audio(dst, "mp3").read_bytes())
    tag = max(data.find(b"Info"), data.find(b"Xing"))
    assert tag > 0 and data[tag + 7] & 0x01  # the frame-count field is present
    frames = int.from_bytes(data[tag + 8 : tag + 12], "big")
    data[tag + 8 : tag + 12] = (frames * 50).to_bytes(4, "big")
    dst.write_bytes(bytes(data))
    return dst


def _wav_claims_more(dst: Path) -> Path:
    data = bytearray(make_audio(dst, "wav_s16").read_bytes())
    chunk = data.find(b"data")
    size = int.from_bytes(data[chunk + 4 : chunk + 8], "little")
    data[chunk + 4 : chunk + 8] = (size * 4).to_bytes(4, "little")
    dst.write_bytes(bytes(data))
    return dst


def _flac_forged_count(dst: Path) -> Path:
    """STREAMINFO's 36-bit total sample count multiplied by 20 (the frames are untouched)."""
    data = bytearray(make_audio(dst, "flac_16").read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    field = int.from_bytes(data[18:26], "big")
    total = field & ((1 << 36) - 1)
    data[18:26] = ((field & ~((1 << 36) - 1)) | total * 20).to_bytes(8, "big")
    dst.write_bytes(bytes(data))
    return dst


def _hour_of_silence(dst: Path) -> Path:
    """A real hour of silent Opus, quick to make: one minute encoded, then looped by copy."""
    minute = dst.with_name("minute.ogg")
    run_ffmpeg("-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "60",
               "-c:a", "libopus", "-b:a", "16k", "-f", "ogg", str(minute))  # fmt: skip
    run_ffmpeg("-y", "-stream_loop", "59", "-i", str(minute), "-c", "copy", "-f", "ogg", str(dst))
    minute.unlink()
    return dst


def _ogg_page_flood(dst: Path) -> Path:
    """A real Opus stream's first pages, then 250 000 empty pages of the same stream."""
    data = make_audio(dst, "ogg_opus", duration_s=0.5).read_bytes()
    first = data[: data.index(b"OggS", 4)]  # the OpusHead page
    serial = first[14:18]
    empty = b"OggS\x00\x00" + b"\x00" * 8 + serial + b"\x00" * 8 + b"\x00"
    assert len(empty) == 27
    dst.write_bytes(data + empty * 250_000)
    return dst


def _wav_chunk_flood(dst: Path) -> Path:
    """A real WAV with 5000 empty "junk" chunks slipped in before its fmt and data chunks."""
    data = make_audio(dst, "wav_s16", duration_s=0.5).read_bytes()
    dst.write_bytes(data[:12] + b"junk\x00\x00\x00\x00" * 5000 + data[12:])
    return dst


VK_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Ошибка | ВКонтакте</title></head>"
    "<body>Файл недоступен</body></html>\n"
)

CASES: list[tuple[str, Maker, type[InputError], dict[str, str], bool]] = [
    ("empty", lambda m, d: _write(d / "empty.mp4", b""), EmptyFile, {}, False),
    (
        "text_named_mp4",
        lambda m, d: _write(d / "notes.mp4", "Привет! just some text\n" * 40),
        NotMedia,
        {},
        False,
    ),
    ("truncated_faststart", lambda m, d: _truncated(m, GOOD, d / "cut.mp4"), Corrupt, {}, False),
    (
        "truncated_moov_at_end",
        lambda m, d: _truncated(m, ClipSpec("moov_at_end", faststart=False), d / "cut.mp4"),
        Corrupt,
        {},
        False,
    ),
    (
        "video_without_audio",
        lambda m, d: _copy(m, ClipSpec("video_only", audio=None), d / "mute.mp4"),
        NoAudio,
        {},
        False,
    ),
    (
        "audio_only_for_the_bot",
        lambda m, d: _copy(m, ClipSpec("audio_only", container="ipod", video=None), d / "a.mp4"),
        NotVideo,
        {},
        True,
    ),
    (
        "silent_audio",
        lambda m, d: _copy(m, ClipSpec("silent", silent=True), d / "quiet.mp4"),
        Silent,
        {},
        True,
    ),
    (
        "two_hours",
        lambda m, d: _copy(m, TWO_HOURS, d / "long.mp4"),
        TooLong,
        {},
        True,
    ),
    ("absurd_sample_table", lambda m, d: _absurd_duration(m, d / "liar.mp4"), TooLong, {}, True),
    (
        "over_pixel_limit",
        lambda m, d: _copy(m, GOOD, d / "big.mp4"),
        TooBig,
        {"SMASK_MAX_PIXELS": str(160 * 120 - 1)},
        True,
    ),
    (
        "over_size_limit",
        lambda m, d: _copy(m, GOOD, d / "heavy.mp4"),
        TooLarge,
        {"SMASK_MAX_BYTES": "10000"},
        True,
    ),
    (
        "over_channel_limit",
        lambda m, d: _copy(m, ClipSpec("h264_aac_51_48k", channels=6), d / "surround.mp4"),
        TooBig,
        {"SMASK_MAX_CHANNELS": "2"},
        True,
    ),
    (
        "webm",
        lambda m, d: _copy(
            m, ClipSpec("webm", container="webm", video="vp8", audio="opus"), d / "clip.webm"
        ),
        UnsupportedContainer,
        {},
        True,
    ),
    (
        "mkv_named_mp4",
        lambda m, d: _copy(m, ClipSpec("mkv", container="matroska"), d / "clip.mp4"),
        UnsupportedContainer,
        {},
        True,
    ),
    (
        "hls_playlist_named_mp4",
        lambda m, d: _pointer(m, d, "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\n{target}\n"),
        Hostile,
        {},
        True,
    ),
    (
        "ffconcat_named_mp4",
        lambda m, d: _pointer(m, d, "ffconcat version 1.0\nfile '{name}'\n"),
        Hostile,
        {},
        True,
    ),
    # --- voice messages and audio files ---
    ("ogg_with_theora", lambda m, d: _ogg_with_theora(d / "voice.ogg"), VideoInAudio, {}, False),
    ("ogg_chained", lambda m, d: _ogg_chained(d / "voice.ogg"), ChainedStream, {}, False),
    (
        "ogg_truncated",
        lambda m, d: _cut(make_audio(d / "voice.ogg", "ogg_opus", duration_s=4.0), 0.6),
        Corrupt,
        {},
        False,
    ),
    (
        "ogg_cut_inside_a_page_header",
        lambda m, d: _append(make_audio(d / "voice.ogg", "ogg_opus", duration_s=1.0), b"OggS\x00"),
        Corrupt,
        {},
        False,
    ),
    ("mp3_huge_id3", lambda m, d: _mp3_huge_id3(d / "song.mp3"), OversizedTag, {}, False),
    ("mp3_false_xing", lambda m, d: _mp3_false_xing(d / "song.mp3"), LengthMismatch, {}, False),
    ("wav_claims_more", lambda m, d: _wav_claims_more(d / "take.wav"), LengthMismatch, {}, False),
    (
        "flac_forged_count",
        lambda m, d: _flac_forged_count(d / "take.flac"),
        LengthMismatch,
        {},
        False,
    ),
    ("html_voice_message", lambda m, d: _write(d / "voice.ogg", VK_ERROR_PAGE), WebPage, {}, False),
    (
        "ogg_over_size_cap",
        lambda m, d: make_audio(d / "voice.ogg", "ogg_opus"),
        TooLarge,
        {"SMASK_MAX_BYTES": "10000"},
        False,
    ),
    ("hour_of_silence", lambda m, d: _hour_of_silence(d / "voice.ogg"), TooLong, {}, False),
    ("ogg_page_flood", lambda m, d: _ogg_page_flood(d / "voice.ogg"), Corrupt, {}, False),
    ("wav_chunk_flood", lambda m, d: _wav_chunk_flood(d / "take.wav"), Corrupt, {}, False),
]


def _write(path: Path, content: bytes | str) -> Path:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _pointer(media: MediaFactory, folder: Path, template: str) -> Path:
    """A text file saved as .mp4 that points at a real local clip (``{target}`` is its
    absolute path, ``{name}`` its name next to the pointer)."""
    target = _copy(media, GOOD, folder / "secret.mp4")
    return _write(folder / "pointer.mp4", template.format(target=target, name=target.name))


@pytest.mark.parametrize(
    ("maker", "error", "env", "require_video"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_refused_with_its_code_and_no_leftovers(
    media: MediaFactory,
    isolated_dirs: tuple[Path, Path, Path],
    maker: Maker,
    error: type[InputError],
    env: dict[str, str],
    require_video: bool,
) -> None:
    in_dir, out_dir, tmp_dir = isolated_dirs
    src = maker(media, in_dir)
    inputs_before = sorted(in_dir.iterdir())
    with pytest.raises(error) as caught:
        process(src, out_dir, limits=MediaLimits.from_env(env), require_video=require_video)
    assert caught.value.code == error.code
    assert caught.value.code in INPUT_ERROR_CODES
    assert list(out_dir.iterdir()) == []
    assert list(tmp_dir.iterdir()) == []
    assert sorted(in_dir.iterdir()) == inputs_before


def test_every_case_has_its_own_code() -> None:
    """The cases above cover distinct failures; the ones sharing a code share a user message."""
    codes = {error.code for _, _, error, _, _ in CASES}
    assert codes >= {
        "empty", "not_media", "corrupt", "no_audio", "not_video", "silent", "too_long",
        "too_big_format", "too_large", "unsupported_container", "hostile", "web_page",
        "video_in_audio", "chained_stream", "oversized_tag", "length_mismatch",
    }  # fmt: skip


def test_an_hour_of_silence_is_refused_on_the_header(tmp_path: Path) -> None:
    """Refused by probe (header and packet scan), so not one sample of the hour is decoded."""
    with pytest.raises(TooLong) as caught:
        probe(_hour_of_silence(tmp_path / "voice.ogg"))
    assert caught.value.facts["duration_s"] == pytest.approx(3600.0, abs=1.0)


@pytest.mark.parametrize(
    ("name", "template", "control_args"),
    [
        ("concat", "ffconcat version 1.0\nfile '{name}'\n", []),
        (
            "hls",
            "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n",
            ["-f", "hls", "-allowed_extensions", "ALL", "-extension_picky", "0"],
        ),
    ],
)
def test_disguised_pointer_never_reaches_the_target(
    media: MediaFactory, tmp_path: Path, name: str, template: str, control_args: list[str]
) -> None:
    pointer = _pointer(media, tmp_path, template)
    # Control: ffmpeg left to itself follows the pointer and reads the local clip...
    control = probe_mod._ffmpeg(
        [*control_args, "-i", str(pointer), "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"],
        timeout_s=30,
    )
    assert control.returncode == 0, control.stderr.decode()[-400:]
    assert control.stdout.count(b"\n0,") > 10  # the secret clip's video packets came through
    # ...our probe refuses it on its first bytes...
    with pytest.raises(Hostile):
        probe(pointer)
    # ...and even without sniffing, the forced demuxer and whitelist read nothing through it.
    forced = probe_mod._ffmpeg(
        [*probe_mod.input_args(pointer), "-map", "0", "-c", "copy", "-f", "framemd5", "-"],
        timeout_s=30,
    )
    assert forced.returncode != 0
    assert b"\n0," not in forced.stdout and b"Stream #" not in forced.stderr


def test_strange_file_names_are_just_names(media: MediaFactory, tmp_path: Path) -> None:
    folder = tmp_path / "папка с пробелами"
    folder.mkdir()
    src = _copy(media, GOOD, folder / "-мой \"клип\" '№1' 日本 file:x.mp4")
    dst_dir = tmp_path / "выход 'out'"
    dst_dir.mkdir()
    cwd = os.getcwd()
    os.chdir(folder)  # a relative name starting with "-" must not turn into an option
    try:
        dst = process(Path(src.name), dst_dir, limits=MediaLimits(), require_video=True)
    finally:
        os.chdir(cwd)
    assert dst.exists() and packet_md5(dst) == packet_md5(media.clip(GOOD))
    assert list(dst_dir.iterdir()) == [dst]


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 60, UnsupportedContainer),
        (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 40, UnsupportedContainer),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 60, UnsupportedContainer),  # ADTS AAC
        (b"#!AMR\n" + b"\x00" * 60, UnsupportedContainer),
        (b"\n  <!DOCTYPE html><html><head><title>VK</title>", WebPage),
        (b"<html><body>Access denied</body></html>", WebPage),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", UnsupportedContainer),
        (b"\xef\xbb\xbf#EXTM3U\n#EXTINF:1,\nhttp://example.invalid/a.ts\n", Hostile),
        (b"  ffconcat version 1.0\nfile a.mp4\n", Hostile),
        (b"<?xml version='1.0'?><MPD xmlns='urn:mpeg:dash:schema:mpd:2011'>", Hostile),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 60, NotMedia),
        (b"\x00" * 64, NotMedia),
    ],
)
def test_sniffing(head: bytes, error: type[InputError]) -> None:
    with pytest.raises(error):
        sniff_container(head)


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "mov"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00", "m4a"),
        (b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat", "mov"),
        (b"OggS\x00\x02" + b"\x00" * 60, "ogg"),
        (b"fLaC\x00\x00\x00\x22" + b"\x00" * 60, "flac"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x10\x00" + b"\x00" * 60, "mp3"),
        # two MPEG-1 Layer III frames of 128 kbit/s at 44.1 kHz (417 bytes each)
        ((b"\xff\xfb\x90\x00" + b"\x00" * 413) * 2, "mp3"),
    ],
)
def test_sniffing_accepts_iso_media(head: bytes, container: str) -> None:
    assert sniff_container(head) == container


def test_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(NotMedia):
        probe(tmp_path)
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(NotMedia):  # must not block waiting for a writer
        probe(fifo)


def test_endless_ffmpeg_is_stopped_by_the_timeout() -> None:
    endless = ["-f", "lavfi", "-i", "anullsrc=r=8000", "-f", "framecrc", "pipe:1"]
    with pytest.raises(ProcessingError, match="did not finish"):
        probe_mod._ffmpeg(endless, timeout_s=0.5)
    with pytest.raises(ProcessingError, match="did not finish"):
        probe_mod._scan_packets(endless, 1, max_packets=10**9, timeout_s=0.5)


def test_packet_flood_is_cut_off_at_the_cap() -> None:
    """A sample table may declare millions of tiny packets; the scan stops at the cap."""
    endless = ["-f", "lavfi", "-i", "anullsrc=r=8000", "-f", "framecrc", "pipe:1"]
    with pytest.raises(Corrupt, match="absurd number of packets"):
        probe_mod._scan_packets(endless, 1, max_packets=500, timeout_s=30)
