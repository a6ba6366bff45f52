"""Byte-level facts of the audio containers that ffmpeg is too forgiving about.

ffmpeg decodes a truncated OGG without a word, plays the first of two chained OGG streams and
then the second, estimates a WAV's length from the file size when its data chunk claims more
than the file holds, and parses an ID3 tag of any size before the first frame. Each of those
is a different bad upload, so each is recognised here from the bytes, before ffmpeg runs, and
refused with its own error. Nothing here decodes audio; everything reads a bounded number of
bytes per page or chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.errors import (
    ChainedStream,
    Corrupt,
    LengthMismatch,
    OversizedTag,
    UnsupportedContainer,
    VideoInAudio,
)

__all__ = [
    "MAX_ID3_BYTES",
    "check_mp3",
    "check_ogg",
    "check_wav",
    "id3v2_size",
    "is_mpeg_audio_frame",
]

# Bytes an ID3v2 tag may take: a 1400x1400 JPEG cover and lyrics fit many times over.
MAX_ID3_BYTES = 4 * 1024 * 1024
OGG_PAGE_HEADER = 27  # bytes before the segment table
# Pages one OGG may have: muxers write about one page per second of Opus, or per 4-8 kB of
# Vorbis (50 000 in a 200 MB file); a flood of empty pages is refused before it costs seconds.
MAX_OGG_PAGES = 200_000
OGG_BOS, OGG_EOS = 0x02, 0x04  # header_type flags: first / last page of a logical stream
# First bytes of the first packet of each logical stream kind we may meet in an OGG.
OGG_AUDIO_CODECS = {b"OpusHead": "opus", b"\x01vorbis": "vorbis"}
OGG_VIDEO_CODECS = {b"\x80theora": "theora", b"\x80kate\x00\x00\x00": "kate", b"OVP80": "vp8"}
WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # written by streaming recorders: "until the end"
MAX_WAV_CHUNKS = 1000  # chunks before "data"; real files have a handful (fmt, LIST, fact...)

# MPEG-1/2/2.5 Layer III: bit rates (kbit/s) by index, sample rates (Hz) by version.
_MP3_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2.5
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


# --------------------------------------------------------------------------------------------
# MP3
# --------------------------------------------------------------------------------------------


def id3v2_size(head: bytes) -> int | None:
    """Total bytes of the ID3v2 tag ``head`` starts with (header and footer included)."""
    if len(head) < 10 or not head.startswith(b"ID3") or head[3] == 0xFF or head[4] == 0xFF:
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):  # sizes are "syncsafe": 7 bits per byte
        return None
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _mpeg_frame_bytes(header: bytes) -> int:
    """Length of the Layer III frame starting with ``header`` (4 bytes); 0 if it is none."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return 0
    version = (header[1] >> 3) & 0x03  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (header[1] >> 1) & 0x03  # 1: Layer III (2: II, 3: I, 0: reserved; ADTS AAC has 0)
    rate_index = (header[2] >> 2) & 0x03
    bit_index = header[2] >> 4
    if version == 1 or layer != 1 or rate_index == 3 or bit_index in (0, 15):
        return 0
    kbps = _MP3_KBPS[version][bit_index]
    rate = _MP3_RATES[version][rate_index]
    padding = (header[2] >> 1) & 0x01
    samples = 1152 if version == 3 else 576
    return samples // 8 * kbps * 1000 // rate + padding


def is_mpeg_audio_frame(data: bytes) -> bool:
    """True when ``data`` starts with a Layer III frame, and with two when it holds two.

    Random bytes start with 0xFFE often enough; a second header exactly one frame further on
    does not happen by chance.
    """
    length = _mpeg_frame_bytes(data[:4])
    if not length:
        return False
    if len(data) >= length + 4:
        return _mpeg_frame_bytes(data[length : length + 4]) > 0
    return True


def check_mp3(path: Path, head: bytes, size_bytes: int) -> None:
    """An MP3 must be Layer III frames, behind at most one ID3v2 tag of sane size.

    Raises:
        OversizedTag: the tag is over ``MAX_ID3_BYTES`` or runs past the end of the file.
        UnsupportedContainer: the tag sits in front of something that is no MP3.
    """
    tag = id3v2_size(head)
    if tag is None:
        if not is_mpeg_audio_frame(head):
            raise UnsupportedContainer("raw MPEG audio that is not Layer III", kind="mpeg audio")
        return
    if tag > MAX_ID3_BYTES or tag >= size_bytes:
        raise OversizedTag(f"ID3v2 tag of {tag} bytes", tag_bytes=tag, max_tag_bytes=MAX_ID3_BYTES)
    with open(path, "rb") as f:
        f.seek(tag)
        after = f.read(4096)
    if not is_mpeg_audio_frame(after):
        raise UnsupportedContainer("an ID3 tag in front of something that is no MP3", kind="id3")


# --------------------------------------------------------------------------------------------
# OGG
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OggFacts:
    codec: str  # "opus" | "vorbis"
    pages: int
    last_granule: int


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise Corrupt("truncated: the last OGG page is cut short", missing_bytes=n - len(data))
    return data


def check_ogg(path: Path) -> OggFacts:
    """Walk every page header of an OGG (bodies are skipped, not read).

    One logical stream of Opus or Vorbis is a voice message or an audio file; anything else
    is refused by kind: a picture stream beside the sound (Theora), a second stream beside or
    after the first (chained files: two takes glued together), a file that ends inside a page
    (a cut-off upload), or bytes between pages that are no page at all.
    """
    size = os.stat(path).st_size
    serials: set[int] = set()
    codec = ""
    pages = 0
    last_granule = -1
    seen_data_page = False
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            if size - offset < OGG_PAGE_HEADER:
                raise Corrupt("truncated: the last OGG page header is cut short", offset=offset)
            header = _read_exact(f, OGG_PAGE_HEADER)
            if header[:4] != b"OggS" or header[4] != 0:
                raise Corrupt("not an OGG page where one should start", offset=offset)
            flags = header[5]
            granule = int.from_bytes(header[6:14], "little", signed=True)
            serial = int.from_bytes(header[14:18], "little")
            n_segments = header[26]
            body_bytes = sum(_read_exact(f, n_segments))
            offset += OGG_PAGE_HEADER + n_segments + body_bytes
            if offset > size:
                raise Corrupt(
                    "truncated: the last OGG page is cut short", missing_bytes=offset - size
                )
            pages += 1
            if pages > MAX_OGG_PAGES:
                raise Corrupt("absurd number of OGG pages", max_pages=MAX_OGG_PAGES)
            if flags & OGG_BOS:
                if seen_data_page or serials:
                    first = f.read(min(body_bytes, 16))
                    if any(first.startswith(m) for m in OGG_VIDEO_CODECS):
                        raise VideoInAudio("a picture stream inside the OGG")
                    raise ChainedStream(
                        "a second logical stream in the OGG", streams=len(serials) + 1
                    )
                first = f.read(min(body_bytes, 16))
                f.seek(offset)
                if any(first.startswith(m) for m in OGG_VIDEO_CODECS):
                    raise VideoInAudio("a picture stream inside the OGG")
                codec = next((c for m, c in OGG_AUDIO_CODECS.items() if first.startswith(m)), "")
                if not codec:
                    raise UnsupportedContainer("an OGG with a codec other than Opus/Vorbis",
                                               kind="ogg")  # fmt: skip
                serials.add(serial)
            else:
                if serial not in serials:
                    raise ChainedStream("pages of an undeclared logical stream in the OGG")
                seen_data_page = True
                f.seek(offset)
                if granule >= 0:
                    last_granule = granule
    if not serials:
        raise Corrupt("an OGG without a stream")
    return OggFacts(codec=codec, pages=pages, last_granule=last_granule)


# --------------------------------------------------------------------------------------------
# WAV
# --------------------------------------------------------------------------------------------


def check_wav(path: Path, size_bytes: int) -> None:
    """The ``data`` chunk must fit in the file (ffmpeg would quietly estimate instead).

    Raises:
        LengthMismatch: the data chunk claims more bytes than the file has after its header.
        Corrupt: no data chunk before the end of the file, or more than MAX_WAV_CHUNKS before it.
    """
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise Corrupt("not a RIFF/WAVE header")
        offset = 12
        for _ in range(MAX_WAV_CHUNKS):
            if offset + 8 > size_bytes:
                break
            f.seek(offset)
            chunk = f.read(8)
            chunk_id, chunk_size = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if chunk_id == b"data":
                if chunk_size in WAV_UNKNOWN_SIZES:
                    return
                available = size_bytes - offset - 8
                if chunk_size > available:
                    raise LengthMismatch(
                        "the WAV data chunk claims more than the file holds",
                        declared_bytes=chunk_size,
                        available_bytes=available,
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)
        else:
            raise Corrupt("absurd number of WAV chunks", max_chunks=MAX_WAV_CHUNKS)
    raise Corrupt("a WAV without a data chunk")
