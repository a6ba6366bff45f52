"""Audio files in, the same format family out: OGG (Opus, Vorbis), MP3, M4A, WAV, FLAC.

Round trips go through the real probe, decode and write (sound unchanged), so they show what
the containers and codecs themselves do to length, rate, channels and timing: the length must
come back within one codec frame (exactly, in fact, for every format here: Opus pre-skip and
MP3 encoder delay/padding are trimmed by the decoder), and the sound must line up sample for
sample. A detuned take then goes through the whole correction and comes back in tune, as
the project's own tracker hears it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakevk.harness import tracker_or_skip
from media_factory import AUDIO_FORMATS, make_audio, tone_expression

from core.media.io import decode_audio, write_result
from core.media.probe import probe

# samples per codec frame at the result's rate: the "same length" unit of each format
CODEC_FRAME = {"opus": 960, "vorbis": 2048, "mp3": 1152, "aac": 1024, "flac": 1, "pcm": 1}
EXPECTED = {  # format -> (container, codec of the result, rate of the result or None = same)
    "ogg_opus": ("ogg", "opus", 48000),
    "ogg_vorbis": ("ogg", "vorbis", None),
    "mp3": ("mp3", "mp3", None),
    "m4a": ("m4a", "aac", None),
    "wav_s16": ("wav", "pcm_s16le", None),
    "wav_s24": ("wav", "pcm_s24le", None),
    "flac_16": ("flac", "flac", None),
    "flac_24": ("flac", "flac", None),
}


def _frame(codec: str) -> int:
    return CODEC_FRAME["pcm" if codec.startswith("pcm_") else codec]


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_round_trip_keeps_length_rate_channels_and_timing(
    tmp_path: Path, fmt: str, channels: int
) -> None:
    src = make_audio(tmp_path / "take.bin", fmt, channels=channels, duration_s=2.0)
    info = probe(src)
    container, codec, rate = EXPECTED[fmt]
    assert info.container == container and info.video is None
    audio = decode_audio(src, info)
    dst = tmp_path / "result.bin"
    write_result(src, dst, audio, info)
    out = probe(dst)
    assert out.container == container
    assert out.audio is not None and info.audio is not None
    assert out.audio.codec == codec
    assert out.audio.channels == channels
    assert out.sample_rate == (rate or info.sample_rate)
    if fmt.endswith("_24"):
        assert out.audio.bits_per_sample == 24
    if fmt == "wav_s24":
        assert out.audio.sample_format == "s32" or out.audio.codec == "pcm_s24le"
    back = decode_audio(dst, out)
    assert abs(back.shape[1] - audio.shape[1]) <= _frame(codec), (back.shape, audio.shape)
    n = min(back.shape[1], audio.shape[1])
    for ch in range(channels):
        corr = np.corrcoef(audio[ch, :n], back[ch, :n])[0, 1]
        assert corr > 0.95, (fmt, ch, corr)  # same place in time, same channel order
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.bin", "take.bin"]


def test_mp3_with_cover_art_is_audio_not_video(tmp_path: Path) -> None:
    """A cover picture in the ID3 tag is an attached picture, not a video stream."""
    cover = tmp_path / "cover.png"
    from media_factory import run_ffmpeg

    run_ffmpeg("-y", "-f", "lavfi", "-i", "color=c=red:s=32x32:d=0.04", "-frames:v", "1",
               str(cover))  # fmt: skip
    plain = make_audio(tmp_path / "plain.mp3", "mp3")
    src = tmp_path / "covered.mp3"
    run_ffmpeg(
        "-y", "-i", str(plain), "-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:a", "copy",
        "-c:v", "png", "-disposition:v:0", "attached_pic", "-id3v2_version", "3",
        "-f", "mp3", str(src),
    )  # fmt: skip
    info = probe(src)
    assert info.container == "mp3" and info.video is None
    assert any(s["type"] == "video" and not s["used"] for s in info.to_dict()["streams"])


def _tracked_cents(path: Path, target_hz: float, start_s: float, end_s: float) -> float:
    """Median distance in cents from ``target_hz`` over a stretch, by the project's tracker."""
    from tracking import track_file

    track = track_file(path, device="cpu")
    times = track.times_s
    f0 = track.f0_hz[(times >= start_s) & (times <= end_s)]
    f0 = f0[np.isfinite(f0)]
    assert len(f0) > 10, "the tracker heard no note"
    return float(np.median(1200 * np.log2(f0 / target_hz)))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ogg_opus", "ogg_vorbis", "mp3", "m4a", "wav_s16", "flac_24"])
def test_detuned_take_comes_back_in_tune(tmp_path: Path, fmt: str) -> None:
    """A4 held in tune, then B4 35 cents sharp: the first note stays, the second moves."""
    tracker_or_skip()
    from core.pipeline import CorrectOptions, correct_file

    b4_sharp = 493.883 * 2 ** (35 / 1200)
    notes = [(440.0, 1.2), (b4_sharp, 1.2)]
    src = make_audio(tmp_path / "take", fmt, expression=tone_expression(notes), duration_s=2.4)
    dst = tmp_path / "fixed"
    report = correct_file(src, dst, CorrectOptions(key="C", device="cpu"))
    assert report.notes
    info, out = probe(src), probe(dst)
    assert out.container == info.container
    a, b = decode_audio(src, info), decode_audio(dst, out)
    assert abs(b.shape[1] * info.sample_rate / out.sample_rate - a.shape[1]) <= 1152
    before = _tracked_cents(src, 493.883, 1.5, 2.2)
    after = _tracked_cents(dst, 493.883, 1.5, 2.2)
    assert before == pytest.approx(35.0, abs=5.0)
    assert abs(after) < 8.0, f"{fmt}: still {after:+.1f} cents off"
    # the in-tune note is left alone: same samples, give or take the codec
    if out.sample_rate == info.sample_rate:
        stretch = slice(int(0.1 * info.sample_rate), int(0.9 * info.sample_rate))
        corr = np.corrcoef(a[0, stretch], b[0, stretch])[0, 1]
        assert corr > 0.95, f"{fmt}: untouched note changed (correlation {corr:.3f})"


@pytest.mark.slow
def test_cli_corrects_an_ogg_voice_message_into_ogg(tmp_path: Path) -> None:
    """``smask correct take.ogg -o fixed.ogg``: Opus in, Opus out, same length and rate."""
    tracker_or_skip()
    from test_cli import smask

    src = make_audio(tmp_path / "take.ogg", "ogg_opus", expression=tone_expression([(452.0, 2.0)]))
    dst = tmp_path / "fixed.ogg"
    result = smask("correct", str(src), "-o", str(dst), "--device", "cpu", "-q")
    assert result.returncode == 0, result.stderr
    out, info = probe(dst), probe(src)
    assert (out.container, out.audio and out.audio.codec) == ("ogg", "opus")
    assert out.sample_rate == info.sample_rate == 48000
    assert decode_audio(dst, out).shape == decode_audio(src, info).shape
    bad = tmp_path / "html.ogg"
    bad.write_text("<!doctype html><html><body>404</body></html>", encoding="utf-8")
    result = smask("correct", str(bad), "-o", str(tmp_path / "never.ogg"))
    assert result.returncode == 3 and "[web_page]" in result.stderr
    assert not (tmp_path / "never.ogg").exists()
