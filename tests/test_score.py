"""core.score: the tune a learner names, from note names, the songbook, MIDI and MusicXML files.

The files are the kinds people send: a MuseScore-style MusicXML (two parts, a pickup, ties,
rests, chords in a second voice), its compressed .mxl, type 0/1 MIDI written with mido (a drum
track and a chord track). Every bad score is refused with its own code and leaves nothing.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest
from core.score.describe import describe_score

from core.errors import (
    INPUT_ERROR_CODES,
    ScoreEmpty,
    ScoreError,
    ScoreHostile,
    ScoreTooLarge,
    ScoreUnknown,
    ScoreUnreadable,
)
from core.score.load import find_tune, load_score, parse_note_names, songbook
from core.score.model import MAX_SCORE_NOTES, Meter, Score, bars_and_beats

FIXTURES = Path(__file__).parent / "fixtures"
MUSESCORE_XML = FIXTURES / "musescore_two_parts.musicxml"
REPO = Path(__file__).resolve().parents[1]


def midis(score: Score) -> list[int]:
    return [n.midi for n in score.notes]


# --- note names ------------------------------------------------------------------------------


def test_names_with_octaves() -> None:
    score = parse_note_names("E4 D4 C4 D4 E4 E4 E4")
    assert midis(score) == [64, 62, 60, 62, 64, 64, 64]
    assert [n.onset_beats for n in score.notes] == [0, 1, 2, 3, 4, 5, 6]
    assert score.source == "inline" and not score.has_meter
    assert all(n.bar is None for n in score.notes)


def test_names_without_octaves_take_the_nearest() -> None:
    assert midis(parse_note_names("E D C D E E E")) == [64, 62, 60, 62, 64, 64, 64]
    # C up to A is a sixth; down to A is a third: the nearer one wins.
    assert midis(parse_note_names("C A")) == [60, 57]
    # An explicit octave resets the reference.
    assert midis(parse_note_names("C5 B D")) == [72, 71, 74]


def test_russian_solfege() -> None:
    assert midis(parse_note_names("ми ре до ре ми ми ми")) == [64, 62, 60, 62, 64, 64, 64]
    assert midis(parse_note_names("до# ре-диез ми-бемоль си бемоль соль")) == [61, 63, 63, 58, 55]
    assert midis(parse_note_names("До Ре Ми Фа Соль Ля Си до")) == [
        60,
        62,
        64,
        65,
        67,
        69,
        71,
        72,
    ]
    assert midis(parse_note_names("фа диез")) == [66]
    assert midis(parse_note_names("do re mi sol la ti")) == [60, 62, 64, 67, 69, 71]


def test_sharps_flats_and_h() -> None:
    assert midis(parse_note_names("F#4 Gb4 Bb3 H3 B3 C##4 Dbb4 A♯4 E♭4")) == [
        66,
        66,
        58,
        59,
        59,
        62,
        60,
        70,
        63,
    ]


def test_lengths_rests_and_bars() -> None:
    score = parse_note_names("C4/2 r D4/0,5 E4/0.5 | пауза/2 F4")
    assert midis(score) == [60, 62, 64, 65]
    assert [n.onset_beats for n in score.notes] == [0, 3, 3.5, 6]
    assert [n.duration_beats for n in score.notes] == [2, 0.5, 0.5, 1]
    assert score.has_meter
    assert [n.bar for n in score.notes] == [1, 1, 1, 2]
    assert [n.beat_in_bar for n in score.notes] == [1, 4, 4.5, 3]


@pytest.mark.parametrize("text", ["E4 X4 C4", "hello world", "до ре мяу", "C4/0", "диез до"])
def test_names_that_are_not_notes(text: str) -> None:
    with pytest.raises(ScoreUnknown):
        parse_note_names(text)


def test_rests_only_is_empty() -> None:
    with pytest.raises(ScoreEmpty):
        parse_note_names("r r/2 пауза")


def test_too_many_names() -> None:
    with pytest.raises(ScoreTooLarge):
        parse_note_names(" ".join(["C4/0.25"] * (MAX_SCORE_NOTES + 1)))


def test_round_trip_through_json() -> None:
    score = load_score("twinkle")
    again = Score.from_dict(score.to_dict())
    assert again == score
    with pytest.raises(ScoreUnreadable):
        Score.from_dict({"source": "inline", "notes": [["x"]]})


def test_seconds_follow_the_tempo() -> None:
    score = load_score("twinkle")  # 100 bpm
    assert score.seconds_per_beat == pytest.approx(0.6)
    assert score.onset_s()[:3].tolist() == pytest.approx([0.0, 0.6, 1.2])
    assert score.duration_s()[6] == pytest.approx(1.2)
    assert score.midi().dtype.kind == "i"


def test_describe_in_both_languages() -> None:
    score = load_score("vo-pole-beryoza")
    assert "Во поле берёза стояла" in describe_score(score, "ru")
    assert "34 ноты" in describe_score(score, "ru")
    assert "Birch" in describe_score(score, "en") and "34 notes" in describe_score(score, "en")
    assert "B4 B4 B4 B4" in describe_score(score, "en")


# --- bars ---------------------------------------------------------------------------------------


def test_bars_with_pickup_and_meter_change() -> None:
    meters = [Meter(0.0, 3, 4), Meter(7.0, 2, 4)]
    got = bars_and_beats([0.0, 1.0, 3.5, 4.0, 7.0, 9.0], meters, pickup_beats=1.0)
    assert got == [(0, 3.0), (1, 1.0), (1, 3.5), (2, 1.0), (3, 1.0), (4, 1.0)]
    # 6/8 is counted in dotted quarters, as a teacher counts it.
    assert bars_and_beats([0.0, 1.5, 3.0], [Meter(0.0, 6, 8)]) == [(1, 1.0), (1, 2.0), (2, 1.0)]


# --- the songbook ---------------------------------------------------------------------------------


def _bar_lengths(notes_text: str) -> list[float]:
    lengths = []
    for bar in notes_text.split("|"):
        tokens = bar.split()
        if not tokens:
            continue
        total = 0.0
        for token in tokens:
            match = re.search(r"/(\d+(?:[.,]\d+)?)$", token)
            total += float(match[1].replace(",", ".")) if match else 1.0
        lengths.append(total)
    return lengths


def test_songbook_has_the_promised_tunes() -> None:
    entries = songbook()
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    songs = [e for e in entries if e.kind == "song"]
    assert len(songs) >= 12
    for key in ("c", "g", "d", "a", "f", "bb", "eb"):
        assert f"{key}-major-scale" in ids and f"{key}-major-arpeggio" in ids
    for key in ("a", "e", "d", "g", "c"):
        assert f"{key}-minor-scale" in ids and f"{key}-minor-arpeggio" in ids
    for entry in entries:
        score = entry.load()
        assert score.source == f"songbook:{entry.id}"
        assert score.has_meter and len(score.notes) >= 7
        assert all(48 <= m <= 84 for m in midis(score)), entry.id  # a beginner's range


def test_every_songbook_bar_adds_up_to_its_meter() -> None:
    import tomllib

    from core.score.model import parse_meter
    from core.score.songbook import SONGBOOK_PATH

    table = tomllib.loads(SONGBOOK_PATH.read_text(encoding="utf-8"))
    for tune in table["tune"]:
        meter = parse_meter(tune["meter"])
        lengths = _bar_lengths(tune["notes"])
        pickup = float(tune.get("pickup_beats", 0.0))
        body = lengths[1:] if pickup else lengths
        assert all(abs(x - meter.bar_beats) < 1e-9 for x in body), (tune["id"], lengths)


def test_scales_and_arpeggios_are_built_right() -> None:
    assert midis(load_score("c-major-scale")) == [
        60,
        62,
        64,
        65,
        67,
        69,
        71,
        72,
        71,
        69,
        67,
        65,
        64,
        62,
        60,
    ]
    assert midis(load_score("a-minor-scale"))[:8] == [57, 59, 60, 62, 64, 65, 67, 69]
    assert midis(load_score("eb-major-arpeggio")) == [63, 67, 70, 75, 70, 67, 63]
    assert midis(load_score("g-minor-arpeggio")) == [55, 58, 62, 67, 62, 58, 55]


def test_known_tunes_start_as_learners_know_them() -> None:
    assert midis(load_score("twinkle"))[:7] == [60, 60, 67, 67, 69, 69, 67]
    assert midis(load_score("ode-to-joy"))[:4] == [64, 64, 65, 67]
    assert midis(load_score("Во поле берёза стояла"))[:10] == [
        71,
        71,
        71,
        71,
        69,
        69,
        67,
        67,
        66,
        64,
    ]
    assert midis(load_score("Жили у бабуси (Весёлые гуси)"))[:6] == [65, 64, 62, 60, 67, 67]


@pytest.mark.parametrize(
    ("name", "tune_id"),
    [
        ("twinkle", "twinkle"),
        ("Twinkle, Twinkle, Little Star", "twinkle"),
        ("во поле береза стояла", "vo-pole-beryoza"),
        ("берёза", "vo-pole-beryoza"),
        ("JINGLE", "jingle-bells"),
        ("гамма до мажор", "c-major-scale"),
        ("Bb major scale", "bb-major-scale"),
        ("Happy Birthday", None),
        ("B-flat major scale", "bb-major-scale"),
        ("bb-major-scale", "bb-major-scale"),
    ],
)
def test_songbook_lookup(name: str, tune_id: str | None) -> None:
    if tune_id is None:
        with pytest.raises(ScoreUnknown):
            load_score(name)
        return
    assert load_score(name).source == f"songbook:{tune_id}"


def test_find_tune_is_exact() -> None:
    entry = find_tune("Коробейники")
    assert entry is not None and entry.id == "korobeiniki"
    assert find_tune("коробей") is None


# --- MusicXML ---------------------------------------------------------------------------------


def test_musescore_musicxml_melody_is_the_part_with_most_notes() -> None:
    score = load_score(MUSESCORE_XML)
    # The piano part has more notes; its top line skips the second voice's chords.
    assert midis(score) == [71, 74, 72, 71, 69, 67, 66, 67]
    assert score.source == "musicxml:musescore_two_parts.musicxml"
    assert score.title == "Test Tune"
    assert score.seconds_per_beat == pytest.approx(60 / 90)
    assert score.has_meter
    assert [(n.bar, n.beat_in_bar) for n in score.notes][:2] == [(0, 3.0), (1, 1.0)]


def test_musescore_musicxml_named_part_ties_rests_and_bars() -> None:
    score = load_score(MUSESCORE_XML, track=1)
    assert midis(score) == [62, 64, 67, 66, 64, 62, 67]
    assert [n.onset_beats for n in score.notes] == [0, 1, 3, 4.5, 5, 5.5, 6]
    assert score.notes[2].duration_beats == 1.5  # the tie across the bar line is one note
    assert [(n.bar, n.beat_in_bar) for n in score.notes] == [
        (0, 3.0),
        (1, 1.0),
        (1, 3.0),
        (2, 1.5),
        (2, 2.0),
        (2, 2.5),
        (2, 3.0),
    ]


def test_a_track_the_file_has_not() -> None:
    with pytest.raises(ValueError, match="2 track"):
        load_score(MUSESCORE_XML, track=3)


def _mxl(xml: bytes, *, rootfile: str = "score.musicxml") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.recordare.musicxml")
        archive.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
            f'<rootfile full-path="{rootfile}" '
            'media-type="application/vnd.recordare.musicxml+xml"/>'
            "</rootfiles></container>",
        )
        archive.writestr("score.musicxml", xml)
    return buffer.getvalue()


def test_compressed_mxl_named_anything(tmp_path: Path) -> None:
    path = tmp_path / "tune.bin"  # the bytes decide, not the name
    path.write_bytes(_mxl(MUSESCORE_XML.read_bytes()))
    assert midis(load_score(path, track=1)) == [62, 64, 67, 66, 64, 62, 67]


def test_timewise_musicxml(tmp_path: Path) -> None:
    xml = (
        '<?xml version="1.0"?><score-timewise version="4.0"><part-list>'
        '<score-part id="P1"><part-name>Voice</part-name></score-part></part-list>'
        '<measure number="1"><part id="P1"><attributes><divisions>1</divisions>'
        "<time><beats>2</beats><beat-type>4</beat-type></time></attributes>"
        "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note>"
        "<note><pitch><step>D</step><octave>4</octave></pitch><duration>1</duration></note>"
        '</part></measure><measure number="2"><part id="P1">'
        "<note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration></note>"
        "</part></measure></score-timewise>"
    )
    path = tmp_path / "timewise.xml"
    path.write_text(xml, encoding="utf-8")
    score = load_score(path)
    assert midis(score) == [60, 62, 64]
    assert [n.bar for n in score.notes] == [1, 1, 2]


# --- MIDI -------------------------------------------------------------------------------------


def _type1_with_drums_and_chords() -> mido.MidiFile:
    """A band arrangement: tempo map, melody, a chord track with more notes, drums."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Song", time=0),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96), time=0),
            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        ]
    )
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name="Melody", time=0)])
    for note in (64, 62, 60, 62, 64, 64, 64):
        melody.append(mido.Message("note_on", channel=0, note=note, velocity=90, time=0))
        melody.append(mido.Message("note_off", channel=0, note=note, velocity=0, time=480))
    chords = mido.MidiTrack([mido.MetaMessage("track_name", name="Guitar", time=0)])
    for root in (48, 53, 55, 48):  # whole-bar triads: 12 notes, the most of any track
        for interval in (0, 4, 7):
            chords.append(
                mido.Message("note_on", channel=1, note=root + interval, velocity=70, time=0)
            )
        for k, interval in enumerate((0, 4, 7)):
            chords.append(
                mido.Message(
                    "note_on",
                    channel=1,
                    note=root + interval,
                    velocity=0,
                    time=1920 if k == 0 else 0,
                )
            )
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Drums", time=0)])
    for _ in range(32):  # more notes than any other track, but drums are never the tune
        drums.append(mido.Message("note_on", channel=9, note=36, velocity=100, time=0))
        drums.append(mido.Message("note_off", channel=9, note=36, velocity=0, time=240))
    mid.tracks.extend([conductor, melody, chords, drums])
    return mid


def test_type1_midi_melody_chords_and_drums(tmp_path: Path) -> None:
    path = tmp_path / "band.mid"
    _type1_with_drums_and_chords().save(path)
    # The chord track has the most notes, so it is the default; its top line is the tune.
    default = load_score(path)
    assert midis(default) == [55, 60, 62, 55]
    assert [n.duration_beats for n in default.notes] == [4, 4, 4, 4]
    assert default.seconds_per_beat == pytest.approx(60 / 96)
    assert default.has_meter and [n.bar for n in default.notes] == [1, 2, 3, 4]
    assert default.title == "Song"
    melody = load_score(path, track=1)
    assert midis(melody) == [64, 62, 60, 62, 64, 64, 64]
    assert melody.source == "midi:band.mid"
    with pytest.raises(ValueError, match="Melody"):
        load_score(path, track=3)  # the drum track is not counted


def test_type0_midi_channels_are_voices(tmp_path: Path) -> None:
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    track = mido.MidiTrack()
    for note in (60, 62, 64):
        track.append(mido.Message("note_on", channel=0, note=note, velocity=80, time=0))
        track.append(mido.Message("note_on", channel=1, note=note - 24, velocity=80, time=0))
        track.append(mido.Message("note_off", channel=0, note=note, time=96))
        track.append(mido.Message("note_off", channel=1, note=note - 24, time=0))
    track.append(mido.Message("note_on", channel=0, note=65, velocity=80, time=0))
    track.append(mido.Message("note_off", channel=0, note=65, time=96))
    mid.tracks.append(track)
    path = tmp_path / "type0.mid"
    mid.save(path)
    assert midis(load_score(path)) == [60, 62, 64, 65]
    assert midis(load_score(path, track=2)) == [36, 38, 40]
    assert not load_score(path).has_meter  # no time signature in the file


def test_the_childs_reference_midi() -> None:
    path = REPO.parent / "shared" / "eval" / "kids_tree_reference.mid"
    if not path.exists():
        pytest.skip("../shared/eval is not here")
    score = load_score(path)
    assert midis(score)[:11] == [67, 64, 64, 67, 64, 64, 67, 65, 64, 62, 60]
    assert len(score.notes) == 22
    assert not score.has_meter  # a performance captured to MIDI: its bars mean nothing


# --- bad scores: each its own code, nothing left behind ------------------------------------------


def _midi_bytes(mid: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def _bad_midi_header_length() -> bytes:
    return b"MThd" + (0xFFFFFFF0).to_bytes(4, "big") + b"\x00\x01\x00\x01\x01\xe0"


def _bad_midi_track_length() -> bytes:
    good = _midi_bytes(_type1_with_drums_and_chords())
    at = good.index(b"MTrk")
    return good[: at + 4] + (0x7FFFFFFF).to_bytes(4, "big") + good[at + 8 :]


def _truncated_midi() -> bytes:
    return _midi_bytes(_type1_with_drums_and_chords())[:-40]


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "META-INF/container.xml",
            '<container><rootfiles><rootfile full-path="s.xml"/></rootfiles></container>',
        )
        with archive.open("s.xml", "w", force_zip64=True) as member:
            chunk = b" " * 2**20
            for _ in range(40):  # 40 MiB of spaces packs into about 40 KiB
                member.write(chunk)
    return buffer.getvalue()


def _entity_bomb() -> bytes:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE score-partwise ["]
    lines.append('<!ENTITY a0 "ha">')
    for k in range(1, 12):
        lines.append(f'<!ENTITY a{k} "{f"&a{k - 1};" * 10}">')
    lines.append("]>")
    lines.append("<score-partwise><work><work-title>&a11;</work-title></work></score-partwise>")
    return "\n".join(lines).encode()


def _external_entity() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE score-partwise [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<score-partwise><work><work-title>&x;</work-title></work></score-partwise>"
    )


def _huge_xml() -> bytes:
    notes = "".join(
        "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note>"
        for _ in range(MAX_SCORE_NOTES + 1)
    )
    return (
        '<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"><part-name>x'
        '</part-name></score-part></part-list><part id="P1"><measure number="1"><attributes>'
        f"<divisions>1</divisions></attributes>{notes}</measure></part></score-partwise>"
    ).encode()


def _drums_only_midi() -> bytes:
    mid = mido.MidiFile(type=1)
    mid.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                mido.Message("note_off", channel=9, note=36, time=100),
            ]
        )
    )
    return _midi_bytes(mid)


def _rests_only_xml() -> bytes:
    return (
        b'<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"><part-name>x'
        b'</part-name></score-part></part-list><part id="P1"><measure number="1"><attributes>'
        b"<divisions>1</divisions></attributes><note><rest/><duration>4</duration></note>"
        b"</measure></part></score-partwise>"
    )


def _element_flood() -> bytes:
    """A 40 KB .mxl whose 3M empty elements would build an 800 MB tree if parsed."""
    return _mxl(b"<score-partwise>" + b"<x/>" * 3_000_000 + b"</score-partwise>")


def _nonsense_values_midi() -> bytes:
    """A zero tempo and a 0/4 meter (mido saves both) ahead of a good melody."""
    mid = _type1_with_drums_and_chords()
    mid.tracks[0].insert(1, mido.MetaMessage("set_tempo", tempo=0, time=0))
    mid.tracks[0].insert(1, mido.MetaMessage("time_signature", numerator=0, denominator=4))
    return _midi_bytes(mid)


def test_nonsense_tempo_and_meter_are_ignored_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "song.mid"
    path.write_bytes(_nonsense_values_midi())
    score = load_score(path)
    reference = tmp_path / "plain.mid"
    reference.write_bytes(_midi_bytes(_type1_with_drums_and_chords()))
    assert score.midi().tolist() == load_score(reference).midi().tolist()
    assert score.seconds_per_beat > 0


BAD_SCORES = {
    "garbage": (lambda: b"\x00\x01hello, not a score at all", ScoreUnreadable, "score_unreadable"),
    "png": (lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, ScoreUnreadable, "score_unreadable"),
    "empty file": (lambda: b"", ScoreUnreadable, "score_unreadable"),
    "truncated midi": (_truncated_midi, ScoreUnreadable, "score_unreadable"),
    "broken xml": (lambda: b"<score-partwise><part>", ScoreUnreadable, "score_unreadable"),
    "other xml": (lambda: b"<html><body>hi</body></html>", ScoreUnreadable, "score_unreadable"),
    "plain zip": (
        lambda: _mxl(b"<x/>").replace(b"META-INF/container.xml", b"META-INF/containex.xml"),
        ScoreUnreadable,
        "score_unreadable",
    ),
    "midi header length": (_bad_midi_header_length, ScoreHostile, "score_hostile"),
    "midi track length": (_bad_midi_track_length, ScoreHostile, "score_hostile"),
    "zip bomb": (_zip_bomb, ScoreHostile, "score_hostile"),
    "entity bomb": (_entity_bomb, ScoreHostile, "score_hostile"),
    "external entity": (_external_entity, ScoreHostile, "score_hostile"),
    "element flood": (_element_flood, ScoreHostile, "score_hostile"),
    "huge": (_huge_xml, ScoreTooLarge, "score_too_large"),
    "drums only": (_drums_only_midi, ScoreEmpty, "score_empty"),
    "rests only": (_rests_only_xml, ScoreEmpty, "score_empty"),
}


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every temp file of this process at an empty folder, to see that none is left."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    yield scratch


@pytest.mark.parametrize("case", sorted(BAD_SCORES))
def test_bad_score_refused_with_its_code(case: str, tmp_path: Path, private_tmp: Path) -> None:
    make, error, code = BAD_SCORES[case]
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "score.mid"
    path.write_bytes(make())
    before = sorted(folder.iterdir())
    with pytest.raises(error) as caught:
        load_score(path)
    assert caught.value.code == code
    assert isinstance(caught.value, ScoreError)
    assert code in INPUT_ERROR_CODES
    assert sorted(folder.iterdir()) == before
    assert list(private_tmp.iterdir()) == []


def test_a_file_over_the_byte_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.score import files as score_files

    monkeypatch.setattr(score_files, "MAX_SCORE_BYTES", 1000)
    path = tmp_path / "big.musicxml"
    path.write_bytes(b"<score-partwise>" + b" " * 2000 + b"</score-partwise>")
    with pytest.raises(ScoreTooLarge):
        load_score(path)


@pytest.mark.parametrize("spec", ["no/such/file.mid", "song.musicxml", "la la land"])
def test_unknown_specs(spec: str) -> None:
    with pytest.raises(ScoreUnknown):
        load_score(spec)


def test_a_missing_path_object() -> None:
    with pytest.raises(ScoreUnknown):
        load_score(Path("/nonexistent/tune.mid"))


def test_score_libraries_load_only_when_a_file_is_read() -> None:
    """``smask correct`` without --score must not pay for music21 or mido."""
    code = (
        "import sys, core.cli, core.pipeline, core.score.load\n"
        "core.score.load.load_score('E D C')\n"
        "core.score.load.load_score('twinkle')\n"
        "assert 'music21' not in sys.modules, 'music21'\n"
        "assert 'mido' not in sys.modules, 'mido'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- CorrectOptions carries the score ------------------------------------------------------------


def test_correct_options_take_a_score() -> None:
    from core.pipeline import CorrectOptions

    score = load_score("twinkle")
    options = CorrectOptions(score=score, transpose=-2, fix_wrong_notes=True)
    assert options.score is score and options.transpose == -2 and options.fix_wrong_notes
    assert CorrectOptions(fix_wrong_notes=True).score is None  # the bot may keep the choice
    for bad in ({"transpose": 1.5}, {"transpose": 49}, {"transpose": True}):
        with pytest.raises(ValueError, match="transpose"):
            CorrectOptions(score=score, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score"):
        CorrectOptions(score="E D C")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fix_wrong_notes"):
        CorrectOptions(score=score, fix_wrong_notes="yes")  # type: ignore[arg-type]


def test_is_score_tells_scores_from_clips() -> None:
    from core.score.files import is_score

    xml = MUSESCORE_XML.read_bytes()
    assert is_score(xml)
    assert is_score(xml.decode("utf-8").encode("utf-16"))  # a BOM and two bytes a character
    assert is_score(_mxl(xml))
    assert is_score(_midi_bytes(_type1_with_drums_and_chords()))
    assert is_score(b"MThd broken")  # a damaged score still deserves the score's message
    assert not is_score(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # an MP4 clip
    assert not is_score(b"<html><body>not music</body></html>")
    assert not is_score(_mxl(xml).replace(b"META-INF/container.xml", b"META-INF/containex.xml"))
    assert not is_score(b"")


def test_utf16_musicxml(tmp_path: Path) -> None:
    path = tmp_path / "finale.xml"
    text = MUSESCORE_XML.read_text(encoding="utf-8").replace(
        'encoding="UTF-8"', 'encoding="UTF-16"'
    )
    path.write_bytes(text.encode("utf-16"))
    assert midis(load_score(path, track=1)) == [62, 64, 67, 66, 64, 62, 67]


def test_top_line_keeps_the_melody_over_inner_voices() -> None:
    from core.score.model import RawNote, top_line

    held_over_inner = [
        RawNote(0.0, 2.0, 72),  # a held melody note...
        RawNote(0.0, 1.0, 60),  # ...a chord tone under it
        RawNote(1.0, 0.5, 64),  # ...and an inner voice moving under it: not melody
        RawNote(2.0, 1.0, 71),
    ]
    assert [(n.onset_beats, n.duration_beats, n.midi) for n in top_line(held_over_inner)] == [
        (0.0, 2.0, 72),
        (2.0, 1.0, 71),
    ]
    # A performance captured to MIDI: notes overlap a little and chords spread a little.
    performed = [RawNote(0.0, 1.05, 69), RawNote(1.0, 0.5, 72), RawNote(1.49, 0.6, 69)]
    performed += [RawNote(2.5, 1.0, 60), RawNote(2.52, 1.0, 64)]
    line = top_line(performed)
    assert [n.midi for n in line] == [69, 72, 69, 64]
    assert line[0].duration_beats == pytest.approx(1.0)  # cut where the next note starts
    assert all(
        a.onset_beats + a.duration_beats <= b.onset_beats + 1e-9
        for a, b in itertools.pairwise(line)
    )


def test_a_huge_track_name_is_clipped_to_a_label(tmp_path: Path) -> None:
    """A 900 KB name would become an unsendable chat line and a tune stored with every job."""
    mid = _type1_with_drums_and_chords()
    mid.tracks[0][0] = mido.MetaMessage("track_name", name="é" * 200_000, time=0)
    path = tmp_path / ("x" * 200 + ".mid")
    path.write_bytes(_midi_bytes(mid))
    score = load_score(path)
    assert score.title is not None and len(score.title) <= 100 and score.title.endswith("…")
    assert len(score.source) <= 100
    assert len(json.dumps(score.to_dict())) < 20_000
    assert len(describe_score(score, "ru")) < 400
