"""Score files: MIDI through mido, MusicXML (plain or .mxl) through music21.

The bytes decide what a file is. Each file is read whole into memory under a byte cap and
checked before a library sees it, because a score is untrusted input (a chat document): MIDI
chunk lengths must fit the file, an .mxl is unzipped with a bounded read, and XML with entity
declarations is refused before parsing, so neither a zip bomb nor an entity bomb reaches a
parser. Nothing is written to disk. music21 and mido are imported here only, when a score is
actually given.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from core.errors import ScoreFileTooLarge, ScoreHostile, ScoreTooLarge, ScoreUnreadable
from core.score.model import (
    MAX_SCORE_NOTES,
    Meter,
    RawNote,
    Score,
    score_from_raw,
    seconds_per_beat_from_bpm,
    top_line,
)

MAX_SCORE_BYTES = 8 * 2**20  # a score file as sent; MuseScore's biggest exports are far below
MAX_XML_BYTES = 32 * 2**20  # MusicXML text unzipped from an .mxl
MAX_ZIP_ENTRIES = 256
MAX_SOURCE_NOTES = 4 * MAX_SCORE_NOTES  # all parts together; music21 reads ~4000 a second
MAX_XML_DEPTH = 64  # MusicXML nests about 8 deep
# MuseScore writes ~25 elements a note, so 20000 notes is ~500k; a million bounds the element
# tree (~100 MB) where a tiny .mxl of empty elements would otherwise build 800 MB of it.
MAX_XML_ELEMENTS = 1_000_000
# music21 inserts each bar of a part after walking all before it: 1000 bars take 2 s, 2000
# take 7 s, 8000 took 40 s. A learner's tune is 16-200 bars; an etude book a few hundred.
MAX_PART_MEASURES = 1000
MAX_MEASURES = 4000  # all parts together
MAX_SIGNATURES = 2000  # each of: time signatures, key signatures, tempo marks
MAX_BEATS_PER_BAR = 64  # 7/8+5/8 is 12; the longest real bars are a few dozen
MAX_DURATION_QUARTERS = 1024.0  # one note or offset: 256 bars of 4/4
MAX_DIVISIONS = 1_000_000  # divisions of a quarter note; exporters write 1..40320
DEFAULT_DIVISIONS = 10080.0  # what music21 assumes when a part names none
MAX_DOTS = 8
_BOUNDED_VALUES: dict[str, tuple[float, float]] = {
    "beat-type": (1, 128),
    "actual-notes": (1, 256),
    "normal-notes": (1, 256),
    "octave": (-1, 10),
    "alter": (-4, 4),
    "fifths": (-15, 15),
    "staves": (1, 16),
    "staff": (1, 16),
    "chromatic": (-96, 96),
    "diatonic": (-56, 56),
    "octave-change": (-8, 8),
}
_GATHERED = frozenset({"beats", "duration", "offset", "divisions", *_BOUNDED_VALUES})
_SIGNATURES = {"time": "time signatures", "key": "key signatures", "metronome": "tempo marks"}
_WATCHED = _GATHERED | {"note", "part", "measure", "sound", "dot", *_SIGNATURES}
MAX_MIDI_TRACKS = 1024
# mido builds an object for every event (~300 bytes): an 8 MB flood of them took 1.1 GB and
# 21 s. A performed piano piece of 20000 notes, pedal and all, is under 100000 events.
MAX_MIDI_EVENTS = 250_000
MAX_MIDI_METERS = 1000  # time signatures; a written tune changes meter a few times
MAX_MIDI_TEMPOS = 5000  # a performance's tempo map may be dense; only the first is used
DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0
GRID_BEATS = (1 / 16, 1 / 12)  # onsets of a written (not performed) MIDI fall on these grids
ON_GRID_SHARE = 0.9


@dataclass(frozen=True)
class Voice:
    """One candidate for the melody: a MIDI track/channel, or a MusicXML part's staff."""

    label: str
    notes: list[RawNote]
    bars: list[tuple[int, float]] | None = None  # per note, when the file numbers its bars


def read_score_file(path: Path, *, track: int | None = None) -> Score:
    """Read a score file, its kind judged by its bytes.

    Raises:
        ScoreUnreadable / ScoreHostile / ScoreTooLarge / ScoreEmpty: see core.errors.
        ValueError: ``track`` is not one of the file's voices.
    """
    size = path.stat().st_size
    if size > MAX_SCORE_BYTES:
        raise ScoreFileTooLarge(f"{size} bytes", size=size, max_bytes=MAX_SCORE_BYTES)
    data = path.read_bytes()
    return read_score_bytes(data, path.name, track=track)


def read_score_bytes(data: bytes, name: str, *, track: int | None = None) -> Score:
    """As :func:`read_score_file`, for bytes already in memory (``name`` only labels them)."""
    return read_score_voices(data, name, track=track).score


@dataclass(frozen=True)
class ScoreFile:
    """A score read from a file, and which of the file's voices its melody came from."""

    score: Score
    voices: tuple[str, ...]  # every voice with notes, in file order ("track 2 “Flute”")
    chosen: int  # 1-based index into ``voices``: what ``track`` names, or the busiest


def read_score_voices(data: bytes, name: str, *, track: int | None = None) -> ScoreFile:
    """As :func:`read_score_bytes`, also saying which voices the file has (the bot tells a
    learner which track it took and how to take another)."""
    kind = sniff(data)
    try:
        if kind == "midi":
            return _read_midi(data, name, track)
        if kind == "mxl":
            data = _unzip_mxl(data)
        return _read_musicxml(data, name, track)
    except NoSuchTrack:
        raise
    except (ArithmeticError, LookupError, TypeError, AttributeError, ValueError) as exc:
        # A file the parsers accept but whose values make no sense (a zero tempo, a 0/4
        # meter, a part with no attributes, a duration of 1e20): broken, in the learner's
        # words, not a crash and not "track 1 is not in the file".
        raise ScoreUnreadable(f"values a score cannot have ({type(exc).__name__})") from exc
    except RecursionError as exc:  # music21 recursing through a pathological stream
        raise ScoreUnreadable("a score nested past what its reader can follow") from exc


def sniff(data: bytes) -> str:
    """``"midi"``, ``"mxl"`` or ``"musicxml"`` from the first bytes; ScoreUnreadable else."""
    if not data:
        raise ScoreUnreadable("an empty file")
    if data[:4] == b"MThd":
        return "midi"
    if data[:4] == b"PK\x03\x04":
        return "mxl"
    head = data[:512]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "musicxml"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "musicxml"
    raise ScoreUnreadable("neither MIDI nor MusicXML")


def is_score(data: bytes) -> bool:
    """Whether these bytes are meant as a score (a chat doc may be a score or a clip).

    True for anything that starts like MIDI, a zip holding ``META-INF/container.xml``, or XML
    whose root is a MusicXML score, even when it is damaged: the user then hears why their
    score cannot be read, not that it is no video.
    """
    try:
        kind = sniff(data)
    except ScoreUnreadable:
        return False
    if kind == "midi":
        return True
    if kind == "mxl":
        try:
            return "META-INF/container.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return False
    head = data[: 64 * 1024]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    return b"<score-partwise" in head or b"<score-timewise" in head


class NoSuchTrack(ValueError):
    """``track`` names a voice the file does not have: the caller's mistake, not the file's
    (a ValueError, as before, so callers that catch one keep working)."""


def choose_voice(voices: Sequence[Voice], track: int | None, source: str) -> Voice:
    """The voice ``track`` names (1-based), or the one with the most notes."""
    if track is not None:
        if not 1 <= track <= len(voices):
            listing = "; ".join(
                f"{k} = {v.label} ({len(v.notes)} notes)" for k, v in enumerate(voices, 1)
            )
            raise NoSuchTrack(
                f"score track {track}: {source} has {len(voices)} track(s) with notes: {listing}"
            )
        return voices[track - 1]
    return max(voices, key=lambda v: len(v.notes))  # the first of equals


# --- MIDI ---------------------------------------------------------------------------------------


def _check_midi_chunks(data: bytes) -> None:
    """Walk the chunk structure before mido does: every length must fit the file."""
    if len(data) < 14:
        raise ScoreUnreadable("MIDI header cut short")
    header_len = struct.unpack(">L", data[4:8])[0]
    if header_len < 6 or header_len > 4096:
        raise ScoreHostile(f"MIDI header length {header_len}")
    fmt, ntracks, division = struct.unpack(">HHh", data[8:14])
    if fmt not in (0, 1):
        raise ScoreUnreadable(f"MIDI type {fmt}: only types 0 and 1 hold one tune")
    if ntracks < 1 or ntracks > MAX_MIDI_TRACKS:
        raise ScoreHostile(f"{ntracks} MIDI tracks")
    if division <= 0:
        raise ScoreUnreadable("MIDI timed in SMPTE frames, not beats")
    pos = 8 + header_len
    found = 0
    counts = [0, 0, 0]  # events, time signatures, tempo changes
    while pos + 8 <= len(data) and found < ntracks:
        chunk_type = data[pos : pos + 4]
        length = struct.unpack(">L", data[pos + 4 : pos + 8])[0]
        if length > MAX_SCORE_BYTES:
            raise ScoreHostile(f"a MIDI chunk of {length} bytes")
        if pos + 8 + length > len(data):
            raise ScoreUnreadable("MIDI file cut short (a track runs past its end)")
        if chunk_type == b"MTrk":
            found += 1
            _count_midi_events(data, pos + 8, pos + 8 + length, counts)
        pos += 8 + length
    if found < ntracks:
        raise ScoreUnreadable(f"MIDI file cut short ({found} of {ntracks} tracks)")


_CHANNEL_DATA_BYTES = (2, 2, 2, 2, 1, 1, 2)  # by status nibble 0x8..0xE


def _vlq(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A variable-length quantity at ``pos``: (value, position after it)."""
    value = 0
    for _ in range(4):
        if pos >= end:
            raise ScoreUnreadable("MIDI track cut short")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    raise ScoreUnreadable("MIDI: a length longer than four bytes")


def _count_midi_events(data: bytes, pos: int, end: int, counts: list[int]) -> None:
    """Walk one track's events without building them, counting what mido would build.

    mido makes an object of every event, so a flood of them (or of time signatures, each
    of which the reader keeps) is refused here, at a few microseconds an event and after at
    most MAX_MIDI_EVENTS of them, before mido spends seconds and a gigabyte on it.
    """
    running = 0
    while pos < end:
        _delta, pos = _vlq(data, pos, end)
        if pos >= end:
            raise ScoreUnreadable("MIDI track cut short")
        status = data[pos]
        if status >= 0x80:
            pos += 1
            if status != 0xFF:  # as mido reads: meta events leave running status alone
                running = status
        elif running:
            status = running  # running status: the data byte is the event's first
        else:
            raise ScoreUnreadable("MIDI: data before any status byte")
        counts[0] += 1
        if counts[0] > MAX_MIDI_EVENTS:
            raise ScoreFileTooLarge(f"over {MAX_MIDI_EVENTS} MIDI events")
        if status == 0xFF:
            if pos >= end:
                raise ScoreUnreadable("MIDI track cut short")
            meta = data[pos]
            length, pos = _vlq(data, pos + 1, end)
            pos += length
            if meta == 0x58:
                counts[1] += 1
                if counts[1] > MAX_MIDI_METERS:
                    raise ScoreFileTooLarge(f"over {MAX_MIDI_METERS} MIDI time signatures")
            elif meta == 0x51:
                counts[2] += 1
                if counts[2] > MAX_MIDI_TEMPOS:
                    raise ScoreFileTooLarge(f"over {MAX_MIDI_TEMPOS} MIDI tempo changes")
        elif status in (0xF0, 0xF7):
            length, pos = _vlq(data, pos, end)
            pos += length
        elif status >= 0xF0:
            raise ScoreUnreadable(f"MIDI: status byte {status:#x} in a file")
        else:
            pos += _CHANNEL_DATA_BYTES[(status >> 4) - 8]
    if pos > end:
        raise ScoreUnreadable("MIDI: an event runs past the end of its track")


def _read_midi(data: bytes, name: str, track: int | None) -> ScoreFile:
    import mido

    _check_midi_chunks(data)
    try:
        mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError...
        raise ScoreUnreadable(f"MIDI: {type(exc).__name__}: {exc}") from None
    source = f"midi:{name}"
    tpb = float(mid.ticks_per_beat)
    tempo: tuple[int, int] | None = None  # (tick, microseconds a beat), the earliest
    meters: list[tuple[int, int, int]] = []
    voices: dict[tuple[int, int], list[RawNote]] = {}
    names: dict[int, str] = {}
    total = 0
    for ti, trk in enumerate(mid.tracks):
        tick = 0
        sounding: dict[tuple[int, int], list[int]] = {}
        for msg in trk:
            tick += msg.time
            kind = msg.type
            if kind == "set_tempo" and msg.tempo > 0 and (tempo is None or tick < tempo[0]):
                tempo = (tick, msg.tempo)
            elif kind == "time_signature" and msg.numerator >= 1:
                meters.append((tick, msg.numerator, msg.denominator))
            elif kind == "track_name" and ti not in names and msg.name.strip():
                names[ti] = msg.name.strip()
            elif kind in ("note_on", "note_off"):
                if msg.channel == DRUM_CHANNEL:
                    continue
                key = (msg.channel, msg.note)
                if kind == "note_on" and msg.velocity > 0:
                    sounding.setdefault(key, []).append(tick)
                    total += 1
                    if total > MAX_SOURCE_NOTES:
                        raise ScoreTooLarge(
                            f"{source}: over {MAX_SOURCE_NOTES} notes in all tracks",
                            max_notes=MAX_SCORE_NOTES,
                        )
                elif sounding.get(key):
                    start = sounding[key].pop(0)
                    _add(voices, ti, msg.channel, start, tick, msg.note, tpb)
        for (channel, note), starts in sounding.items():  # notes never released: end of track
            for start in starts:
                _add(voices, ti, channel, start, tick, note, tpb)
    candidates = [
        Voice(_midi_label(ti, ch, names.get(ti), len(voices) > 1), notes)
        for (ti, ch), notes in sorted(voices.items())
        if notes
    ]
    if not candidates:
        raise_empty(source)
    voice = choose_voice(candidates, track, source)
    labels = tuple(v.label for v in candidates)
    chosen = candidates.index(voice) + 1
    line = top_line(voice.notes)
    spb = seconds_per_beat_from_bpm(None if tempo is None else 60e6 / tempo[1])
    title = names.get(0) if mid.type == 1 and len(mid.tracks) > 1 else None
    meter_list = [Meter(t / tpb, n, d) for t, n, d in sorted(set(meters))]
    written = _on_grid(line)
    score = score_from_raw(
        line,
        source=source,
        title=title,
        seconds_per_beat=spb,
        meters=meter_list if (meter_list and written) else (),
    )
    return ScoreFile(score, labels, chosen)


def _add(
    voices: dict[tuple[int, int], list[RawNote]],
    track: int,
    channel: int,
    start: int,
    end: int,
    note: int,
    tpb: float,
) -> None:
    if end > start:
        voices.setdefault((track, channel), []).append(
            RawNote(start / tpb, (end - start) / tpb, note)
        )


def _midi_label(track: int, channel: int, name: str | None, several: bool) -> str:
    label = f"track {track}" + (f" “{name}”" if name else "")
    return f"{label}, channel {channel + 1}" if several else label


def _on_grid(notes: Sequence[RawNote]) -> bool:
    """Whether onsets sit on a written grid; a performance captured to MIDI has no bars."""
    if not notes:
        return False
    hits = 0
    for n in notes:
        for grid in GRID_BEATS:
            steps = n.onset_beats / grid
            if abs(steps - round(steps)) * grid < 1 / 128:
                hits += 1
                break
    return hits >= ON_GRID_SHARE * len(notes)


def raise_empty(source: str) -> None:
    from core.errors import ScoreEmpty

    raise ScoreEmpty(f"{source}: no pitched notes (drums and rests only?)")


# --- MusicXML -------------------------------------------------------------------------------------


def _unzip_mxl(data: bytes) -> bytes:
    """The MusicXML text of a compressed .mxl, read with a bounded read, never to disk."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ScoreUnreadable(f"a broken zip: {exc}") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ScoreHostile(f"a zip of {len(infos)} files")
    names = {i.filename: i for i in infos}
    container = names.get("META-INF/container.xml")
    if container is None:
        raise ScoreUnreadable("a zip file, but not a MusicXML .mxl (no META-INF/container.xml)")
    rootfile = _rootfile(_bounded_read(archive, container, 64 * 1024))
    info = names.get(rootfile) if rootfile else None
    if info is None:
        raise ScoreUnreadable(f"the .mxl names a score it does not hold: {rootfile!r}")
    return _bounded_read(archive, info, MAX_XML_BYTES)


def _bounded_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    ratio = info.file_size / max(1, info.compress_size)
    try:
        with archive.open(info) as member:
            content = member.read(limit + 1)
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, RuntimeError (encrypted)...
        raise ScoreUnreadable(f"a broken zip entry: {type(exc).__name__}: {exc}") from None
    if len(content) > limit:
        if ratio > 100 or info.file_size <= limit:  # lies about its size, or packs absurdly
            raise ScoreHostile(f"{info.filename} unpacks past {limit} bytes (a zip bomb)")
        raise ScoreFileTooLarge(f"{info.filename} unpacks past {limit} bytes", max_bytes=limit)
    return content


def _rootfile(container: bytes) -> str | None:
    root = _parse_screened(container)[0]
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "rootfile" and element.get("full-path"):
            return str(element.get("full-path"))
    return None


@dataclass
class _ScreenState:
    depth: int = 0
    elements: int = 0
    notes: int = 0
    root: str = ""
    part: str = ""  # the id of the <part> being read
    measures: dict[str, int] = field(default_factory=dict)  # per part id
    counts: dict[str, int] = field(default_factory=dict)  # meters, keys, tempo marks
    divisions: dict[str, float] = field(default_factory=dict)  # per part id, the latest
    text_tag: str = ""  # a bounded value whose text is being gathered
    text: list[str] = field(default_factory=list)
    dots: int = 0  # of the note being read


class _Refused(Exception):
    """A bound crossed while screening; becomes the ScoreError its ``make`` names."""

    def __init__(self, detail: str, *, too_large: bool = False, unreadable: bool = False) -> None:
        super().__init__(detail)
        self.too_large = too_large
        self.unreadable = unreadable


def _number(text: str, tag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Refused(f"<{tag}> is not a number: {text[:20]!r}", unreadable=True) from None
    if not math.isfinite(value):
        raise _Refused(f"<{tag}> of {text[:20]!r}", unreadable=True)
    return value


def _check_value(state: _ScreenState, tag: str, text: str) -> None:
    """One bounded MusicXML value, checked before music21 builds anything from it.

    The bounds are far above what a written tune uses and far below what makes music21
    allocate without limit (a 100000000-beat bar builds its meter beat by beat).
    """
    text = text.strip()
    if tag == "beats":
        pieces = text.split("+")
        if not all(p.strip().isdigit() for p in pieces):
            raise _Refused(f"<beats> of {text[:20]!r}", unreadable=True)
        beats = sum(int(p) for p in pieces)
        if not 1 <= beats <= MAX_BEATS_PER_BAR:
            raise _Refused(f"a bar of {beats} beats")
        return
    value = _number(text, tag)
    if tag in ("duration", "offset"):
        quarters = abs(value) / state.divisions.get(state.part, DEFAULT_DIVISIONS)
        if (tag == "duration" and value < 0) or quarters > MAX_DURATION_QUARTERS:
            raise _Refused(f"a <{tag}> of {value:g} divisions ({quarters:g} quarter notes)")
        return
    if tag == "divisions":
        if not 0 < value <= MAX_DIVISIONS:
            raise _Refused(f"<divisions> of {value:g}")
        state.divisions[state.part] = value
        return
    low, high = _BOUNDED_VALUES[tag]
    if not low <= value <= high:
        raise _Refused(f"<{tag}> of {value:g}")


def _count(state: _ScreenState, what: str, limit: int) -> None:
    state.counts[what] = state.counts.get(what, 0) + 1
    if state.counts[what] > limit:
        raise _Refused(f"over {limit} {what}", too_large=True)


def _screen(data: bytes) -> tuple[str, int]:
    """Parse once with expat, refusing DTD entities, absurd nesting and absurd values.

    Entity declarations are how XML bombs (billion laughs, external entities) work; no
    MusicXML writer emits them (MuseScore only names the public DTD), so any is refused.
    music21 is quadratic in the measures of a part and trusts every number it reads, so the
    measures, signatures, tempo marks, beats per bar and durations are bounded here, in one
    streaming pass that costs far less than the import it guards.
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True  # a value's text in one call, not one per line
    state = _ScreenState()

    def entity(*_args: Any) -> Any:
        raise _Refused("an XML entity declaration")

    def start(tag: str, attrs: Any) -> None:
        if not state.root:
            state.root = tag
        state.depth += 1
        state.elements += 1
        if state.elements > MAX_XML_ELEMENTS:
            raise _Refused(f"over {MAX_XML_ELEMENTS} XML elements")
        if state.depth > MAX_XML_DEPTH:
            raise _Refused(f"XML nested over {MAX_XML_DEPTH} deep")
        if tag not in _WATCHED:  # most elements: nothing more to look at
            return
        if tag == "note":
            state.notes += 1
            state.dots = 0
            if state.notes > MAX_SOURCE_NOTES:
                raise ScoreTooLarge(f"over {MAX_SOURCE_NOTES} notes", max_notes=MAX_SCORE_NOTES)
        elif tag == "part":
            state.part = str(attrs.get("id", ""))
            if state.root == "score-timewise":
                _count_measure(state)
        elif tag == "measure":
            if state.root == "score-partwise":
                _count_measure(state)
        elif tag in _SIGNATURES:
            _count(state, _SIGNATURES[tag], MAX_SIGNATURES)
        elif tag == "sound":
            if "tempo" in attrs:
                _count(state, "tempo marks", MAX_SIGNATURES)
                _number(str(attrs["tempo"]), "sound tempo")
        elif tag == "dot":
            state.dots += 1
            if state.dots > MAX_DOTS:
                raise _Refused(f"a note of over {MAX_DOTS} dots")
        else:  # a bounded value: its text is gathered only while inside it
            state.text_tag = tag
            state.text = []
            parser.CharacterDataHandler = text

    def text(content: str) -> None:
        state.text.append(content)
        if len(state.text) > 64:  # a number is a few characters, never thousands
            raise _Refused(f"a <{state.text_tag}> of endless text", unreadable=True)

    def end(tag: str) -> None:
        state.depth -= 1
        if tag == state.text_tag:
            state.text_tag = ""
            parser.CharacterDataHandler = None
            _check_value(state, tag, "".join(state.text)[:200])

    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        if exc.too_large:
            raise ScoreFileTooLarge(str(exc)) from None
        if exc.unreadable:
            raise ScoreUnreadable(str(exc)) from None
        raise ScoreHostile(str(exc)) from None
    except expat.ExpatError as exc:
        raise ScoreUnreadable(f"broken XML: {exc}") from None
    return state.root, state.notes


def _count_measure(state: _ScreenState) -> None:
    count = state.measures.get(state.part, 0) + 1
    state.measures[state.part] = count
    if count > MAX_PART_MEASURES:
        raise _Refused(f"over {MAX_PART_MEASURES} bars in one part", too_large=True)
    _count(state, "bars in all parts", MAX_MEASURES)


def _parse_screened(data: bytes) -> tuple[ET.Element, int]:
    _root_tag, notes = _screen(data)
    try:
        return ET.fromstring(data), notes
    except ET.ParseError as exc:
        raise ScoreUnreadable(f"broken XML: {exc}") from None


def _timewise_to_partwise(root: ET.Element) -> ET.Element:
    """music21 reads partwise only; a timewise score is the same data turned sideways."""
    partwise = ET.Element("score-partwise", root.attrib)
    parts: dict[str, ET.Element] = {}
    for child in root:
        if child.tag != "measure":
            partwise.append(child)
    for measure in root.iter("measure"):
        for part in measure.findall("part"):
            pid = part.get("id", "")
            if pid not in parts:
                parts[pid] = ET.SubElement(partwise, "part", {"id": pid})
            new_measure = ET.SubElement(parts[pid], "measure", measure.attrib)
            new_measure.extend(list(part))
    return partwise


def _read_musicxml(data: bytes, name: str, track: int | None) -> ScoreFile:
    source = f"musicxml:{name}"
    root, _notes = _parse_screened(data)
    if root.tag == "score-timewise":
        root = _timewise_to_partwise(root)
    elif root.tag != "score-partwise":
        raise ScoreUnreadable(f"XML, but not a MusicXML score (<{root.tag}>)")
    score = _music21_score(root, source)
    voices = _music21_voices(score)
    if not voices:
        raise_empty(source)
    voice = choose_voice(voices, track, source)
    labels = tuple(v.label for v in voices)
    chosen = voices.index(voice) + 1
    line = top_line(voice.notes)
    bars_by_onset: dict[float, tuple[int, float]] = {}
    if voice.bars is not None:
        for raw, bar in zip(voice.notes, voice.bars, strict=True):
            bars_by_onset.setdefault(round(raw.onset_beats, 6), bar)
    bars = [bars_by_onset.get(round(n.onset_beats, 6), (0, 1.0)) for n in line]
    title = None
    if score.metadata is not None:
        title = score.metadata.title or score.metadata.movementName or None
    melody = score_from_raw(
        line,
        source=source,
        title=str(title) if title else None,
        seconds_per_beat=seconds_per_beat_from_bpm(_first_tempo(score)),
        bars=bars if voice.bars is not None else None,
    )
    return ScoreFile(melody, labels, chosen)


def _music21_score(root: ET.Element, source: str) -> Any:
    from music21.musicxml.xmlToM21 import MusicXMLImporter

    importer = MusicXMLImporter()
    try:
        with warnings.catch_warnings():  # overfull bars and the like: the file's own business
            warnings.simplefilter("ignore")
            importer.xmlRootToScore(root, importer.stream)
    except Exception as exc:  # music21 raises many kinds on malformed scores
        raise ScoreUnreadable(f"{source}: {type(exc).__name__}: {exc}") from None
    return importer.stream


def _first_tempo(score: Any) -> float | None:
    from music21 import tempo

    earliest: tuple[float, float] | None = None
    for part in score.parts or [score]:
        for mark in part.recurse().getElementsByClass(tempo.MetronomeMark):
            bpm = mark.getQuarterBPM()
            if bpm is None:
                continue
            at = float(mark.getOffsetInHierarchy(part))
            if earliest is None or at < earliest[0]:
                earliest = (at, float(bpm))
    return None if earliest is None else earliest[1]


def _music21_voices(score: Any) -> list[Voice]:
    """Each part (each staff of a multi-staff part) with notes: its notes, bars and beats."""
    from music21 import chord, meter, note, stream

    voices: list[Voice] = []
    for index, part in enumerate(score.parts, 1):
        instrument = part.getInstrument(returnDefault=False)
        if instrument is not None and getattr(instrument, "midiChannel", None) == DRUM_CHANNEL:
            continue
        stripped = part.stripTies(inPlace=False)
        notes: list[RawNote] = []
        bars: list[tuple[int, float]] = []
        ts: Any = None
        for measure in stripped.getElementsByClass(stream.Measure):
            found = measure.timeSignature
            if found is None:
                found = next(iter(measure.recurse().getElementsByClass(meter.TimeSignature)), None)
            ts = found or ts
            unit = Meter(0.0, ts.numerator, ts.denominator).beat_unit if ts is not None else 1.0
            padding = float(measure.paddingLeft or 0.0)
            for element in measure.recurse().notes:
                if isinstance(element, chord.Chord):
                    if not element.pitches:
                        continue
                    midi = max(p.midi for p in element.pitches)
                elif isinstance(element, note.Note):
                    midi = element.pitch.midi
                else:  # unpitched percussion
                    continue
                length = float(element.duration.quarterLength)
                if element.duration.isGrace or length <= 0:
                    continue
                within = float(element.getOffsetInHierarchy(measure))
                notes.append(RawNote(float(measure.offset) + within, length, int(midi)))
                number = int(measure.number) if measure.number is not None else 0
                bars.append((number, 1.0 + (padding + within) / unit))
        if notes:
            label = f"part {index}" + (f" “{part.partName}”" if part.partName else "")
            voices.append(Voice(label, notes, bars if ts is not None else None))
    return voices
