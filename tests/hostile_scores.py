"""Score files built the way issue 26's review built them, generated, never committed."""

from __future__ import annotations

import io
import struct
import zipfile

from bench.score_load import honest_musicxml

_PART = (
    '<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"><part-name>x'
    '</part-name></score-part></part-list><part id="P1">'
)
_NOTE = "<note><pitch><step>C</step><octave>4</octave></pitch><duration>{d}</duration></note>"


def mxl(xml: bytes, name: str = "score.xml") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "META-INF/container.xml",
            f'<container><rootfiles><rootfile full-path="{name}"/></rootfiles></container>',
        )
        z.writestr(name, xml)
    return buffer.getvalue()


def absurd_beats() -> bytes:
    """2 KB: a bar of 100000000 beats, which music21 builds beat by beat (defect 1)."""
    return (
        _PART + '<measure number="1"><attributes><divisions>1</divisions>'
        "<time><beats>100000000</beats><beat-type>4</beat-type></time></attributes>"
        + _NOTE.format(d=1)
        + "</measure></part></score-partwise>"
    ).encode()


def empty_measures() -> bytes:
    """A ~20 KB .mxl of 990000 empty bars (defect 2)."""
    return mxl((_PART + "<measure/>" * 990_000 + "</part></score-partwise>").encode())


def long_honest_tune() -> bytes:
    """8000 bars of whole notes: under every note limit, and 40 s of music21 (defect 2)."""
    return honest_musicxml(8000, notes_per_bar=1)


def huge_duration() -> bytes:
    """A note 1e20 divisions long (defect 10)."""
    return (
        _PART
        + '<measure number="1"><attributes><divisions>1</divisions></attributes>'
        + _NOTE.format(d="1e20")
        + "</measure></part></score-partwise>"
    ).encode()


def _midi(track: bytes) -> bytes:
    head = b"MThd" + struct.pack(">LHHh", 6, 0, 1, 480)
    return head + b"MTrk" + struct.pack(">L", len(track)) + track


_NOTES = b"".join(
    b"\x00\x90" + bytes([60 + k % 12]) + b"\x50" + b"\x83\x60\x80" + bytes([60 + k % 12]) + b"\x00"
    for k in range(8)
)
_END = b"\x00\xff\x2f\x00"


def time_signature_flood(limit: int = 2**20 - 1) -> bytes:
    """Just under 1 MiB: a short tune after ~125000 time signatures (defect 3)."""
    meter = b"\x00\xff\x58\x04\x03\x02\x18\x08"
    count = (limit - 22 - len(_NOTES) - len(_END)) // len(meter)
    return _midi(meter * count + _NOTES + _END)


def event_flood(size: int = 8_000_000) -> bytes:
    """~8 MB of controller events in running status, and not one note (defect 9)."""
    first = b"\x00\xb0\x07\x64"
    count = (size - 22 - len(first) - len(_END)) // 3
    return _midi(first + b"\x00\x07\x64" * count + _END)
