"""Which codec, settings and muxer a corrected result is written with, per container.

One table, so the rule is readable in one place and any writer (core.media.io today, a streaming
writer tomorrow) asks the same question: "I am writing this container from audio at this rate
and channel count; what ffmpeg output arguments?". Nothing here runs ffmpeg.

The rules, on purpose:

* MP4/MOV/M4A: AAC-LC, as before, at the original rate (or the nearest lower AAC rate).
* OGG: Opus for Opus and for voice messages, Vorbis for Vorbis (so a Vorbis file keeps its
  rate). Opus runs at 48 kHz internally; an Opus input decodes at 48 kHz already, so its rate
  is kept; any other source rate is resampled to 48 kHz. Music bit rates (96 kbit/s mono,
  128 stereo) and ``application=audio``: the speech-tuned "voip" mode smears held notes.
* MP3: LAME at 192 kbit/s (128 mono); the muxer writes the Xing/LAME header that carries the
  encoder delay and padding, so a decoder trims them and the length comes back exact.
* WAV: the original PCM sample format. FLAC: the original bit depth.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AAC_SAMPLE_RATES",
    "OPUS_SAMPLE_RATE",
    "Encoding",
    "aac_bit_rate_kbps",
    "aac_sample_rate",
    "audio_encoding",
    "opus_bit_rate_kbps",
]

OPUS_SAMPLE_RATE = 48000  # Hz, the only rate libopus runs at inside
# Hz, the rates an AAC stream can signal without an explicit frequency field
AAC_SAMPLE_RATES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
)  # fmt: skip
MP3_SAMPLE_RATES = (48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)  # Hz
# PCM codecs a WAV result keeps; anything else in a WAV is written as 16-bit.
WAV_PCM_CODECS = frozenset(
    {"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"}
)
MUXERS = {"mp4": "mp4", "mov": "mov", "m4a": "ipod", "ogg": "ogg", "mp3": "mp3", "wav": "wav",
          "flac": "flac"}  # fmt: skip


@dataclass(frozen=True)
class Encoding:
    """ffmpeg output arguments for the sound of one result.

    ``codec_args`` go after ``-map`` of the sound (codec, bit rate, rate); ``muxer`` is the
    ``-f`` value; ``sample_rate`` is the rate the result carries (Hz), which callers report
    when it differs from the source's; ``mux_args`` are muxer options (faststart).
    """

    codec: str
    codec_args: tuple[str, ...]
    muxer: str
    sample_rate: int
    mux_args: tuple[str, ...] = ()


def aac_sample_rate(sample_rate: int) -> int:
    """The rate AAC will carry: the clip's own when AAC has it, else the nearest lower one."""
    if sample_rate in AAC_SAMPLE_RATES:
        return sample_rate
    lower = [r for r in AAC_SAMPLE_RATES if r <= sample_rate]
    return max(lower) if lower else min(AAC_SAMPLE_RATES)


def _mp3_sample_rate(sample_rate: int) -> int:
    lower = [r for r in MP3_SAMPLE_RATES if r <= sample_rate]
    return max(lower) if lower else min(MP3_SAMPLE_RATES)


def aac_bit_rate_kbps(channels: int) -> int:
    """AAC-LC bit rate we encode at: transparent for a melody, 96 kbit/s even for mono."""
    return min(512, max(96, 64 * channels))


def opus_bit_rate_kbps(channels: int) -> int:
    """Opus at music rates: 96 kbit/s mono, 128 stereo, 64 per channel beyond."""
    return 96 if channels <= 1 else max(128, 64 * channels)


def audio_encoding(
    container: str,
    *,
    sample_rate: int,
    channels: int,
    source_codec: str = "",
    sample_format: str = "",
    bits_per_sample: int | None = None,
) -> Encoding:
    """How to encode corrected audio into ``container`` (see the module docstring).

    Args:
        container: the result's container (``core.media.probe.Container``).
        sample_rate: Hz of the audio handed to the encoder.
        channels: channel count of that audio (kept in every format).
        source_codec, sample_format, bits_per_sample: what the input carried
            (``core.media.probe.AudioInfo``), so lossless and Vorbis results match their source.
    """
    if container in ("mp4", "mov", "m4a"):
        rate = aac_sample_rate(sample_rate)
        args = ("-c:a", "aac", "-b:a", f"{aac_bit_rate_kbps(channels)}k", "-ar", str(rate))
        return Encoding("aac", args, MUXERS[container], rate, ("-movflags", "+faststart"))
    if container == "ogg" and source_codec == "vorbis":
        args = ("-c:a", "libvorbis", "-q:a", "6", "-ar", str(sample_rate))
        return Encoding("vorbis", args, "ogg", sample_rate)
    if container == "ogg":
        opus_args: tuple[str, ...] = (
            "-c:a", "libopus", "-b:a", f"{opus_bit_rate_kbps(channels)}k",
            "-application", "audio", "-vbr", "on", "-ar", str(OPUS_SAMPLE_RATE),
        )  # fmt: skip
        return Encoding("opus", opus_args, "ogg", OPUS_SAMPLE_RATE)
    if container == "mp3":
        rate = _mp3_sample_rate(sample_rate)
        kbps = 128 if channels <= 1 else 192
        args = ("-c:a", "libmp3lame", "-b:a", f"{kbps}k", "-ar", str(rate))
        return Encoding("mp3", args, "mp3", rate, ("-write_xing", "1"))
    if container == "wav":
        codec = source_codec if source_codec in WAV_PCM_CODECS else "pcm_s16le"
        return Encoding(codec, ("-c:a", codec, "-ar", str(sample_rate)), "wav", sample_rate)
    if container == "flac":
        wide = sample_format.startswith("s32") or (bits_per_sample or 16) > 16
        fmt_args = ("-sample_fmt", "s32", "-bits_per_raw_sample", str(bits_per_sample or 24))
        args = ("-c:a", "flac", *(fmt_args if wide else ("-sample_fmt", "s16")))
        return Encoding("flac", (*args, "-ar", str(sample_rate)), "flac", sample_rate)
    raise ValueError(f"no encoder for container {container!r}")
