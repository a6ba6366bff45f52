"""The learner's tune in the chat: /tune, /tunes, /fixwrong and score files, through the real Bot
and the fake VK server; and the next clip's job carrying the tune into CorrectOptions."""

from __future__ import annotations

import io
from pathlib import Path

import mido
import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import make_settings, running_bot, say

from bot import jobs
from bot.prefs import SqlitePrefsStore
from bot.texts import t
from bot.worker import correct_options
from core.score.load import load_score
from core.score.model import Score

FIXTURES = Path(__file__).parent / "fixtures"


def _leftovers(work_dir: Path) -> list[Path]:
    """Files under the work dir (empty folders the bot keeps for its scratch don't count)."""
    return [p for p in work_dir.rglob("*") if not p.is_dir()]


def _midi_of(notes: list[int]) -> bytes:
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Flute", time=0)])
    for note in notes:
        track.append(mido.Message("note_on", note=note, velocity=80, time=0))
        track.append(mido.Message("note_off", note=note, time=480))
    mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


async def test_tune_by_names_songbook_show_and_off(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    prefs = SqlitePrefsStore(settings.jobs_path)
    async with running_bot(settings, fake):
        assert await say(fake, 7, 1, "/tune") == t("tune_none", "ru")
        answer = await say(fake, 7, 2, "/tune ми ре до ре ми ми ми")
        assert answer.startswith("🎼 Запомнил мелодию") and "7 нот" in answer
        stored = prefs.get(7).tune
        assert stored is not None
        assert Score.from_dict(stored).midi().tolist() == [64, 62, 60, 62, 64, 64, 64]
        shown = await say(fake, 7, 3, "/tune")
        assert shown.startswith("🎼 Ваша мелодия") and "ми¹ ре¹ до¹" in shown
        assert "Мелодия: мелодия, набранная нотами" in await say(fake, 7, 4, "/settings")
        birch = await say(fake, 7, 5, "/tune берёза")
        assert "Во поле берёза стояла" in birch
        assert Score.from_dict(prefs.get(7).tune or {}).source == "songbook:vo-pole-beryoza"
        assert await say(fake, 7, 6, "/tune мяу мяу") == t("error_score_unknown", "ru")
        assert prefs.get(7).tune is not None  # a typo keeps the tune the learner had
        assert await say(fake, 7, 7, "/tune off") == t("tune_off", "ru")
        assert prefs.get(7).tune is None
        # English, and a file path typed in the chat is never opened on the server
        await say(fake, 8, 1, "/lang en")
        assert "Twinkle" in await say(fake, 8, 2, "/tune twinkle")
        assert await say(fake, 8, 3, "/tune /etc/passwd") == t("error_score_unknown", "en")


async def test_tunes_lists_the_songbook_and_fixwrong(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    async with running_bot(settings, fake):
        listing = await say(fake, 9, 1, "/tunes")
        assert listing.startswith(t("tunes_header", "ru"))
        assert "/tune twinkle" in listing and "Во поле берёза стояла" in listing
        assert "гамма до мажор" in listing
        on = await say(fake, 9, 2, "/fixwrong on")
        assert on == t("fixwrong_on", "ru") + "\n" + t("fixwrong_needs_tune", "ru")
        assert await say(fake, 9, 3, "/fixwrong maybe") == t("fixwrong_invalid", "ru")
        assert "Передвигать не те ноты: да" in await say(fake, 9, 4, "/settings")
        assert await say(fake, 9, 5, "/fixwrong off") == t("fixwrong_off", "ru")
        assert "/tunes" in await say(fake, 9, 6, "/help")
    assert not SqlitePrefsStore(settings.jobs_path).get(9).fix_wrong_notes


async def test_a_score_file_sets_the_tune_and_the_next_clip_carries_it(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    midi = _midi_of([67, 64, 64, 67, 64, 64])
    # No telling name: the bytes say MIDI, and the bytes decide.
    score_doc = [doc_attachment(fake.add_file("tune", midi), title="мелодия", size=len(midi))]
    xml = (FIXTURES / "musescore_two_parts.musicxml").read_bytes()
    # Named as video, but the learner wrote /tune on it: it is looked at, and it is a score.
    xml_doc = [doc_attachment(fake.add_file("t.mp4", xml), title="t.mp4", size=len(xml))]
    clip = [doc_attachment(fake.add_file("clip.mp4", b"a clip, not a score"), size=19)]
    bytes_doc = [doc_attachment(fake.add_file("notes.bin", b"not a score"), title="notes.bin")]
    store = jobs.SqliteJobStore(settings.jobs_path)
    async with running_bot(settings, fake):
        answer = await say(fake, 11, 1, attachments=score_doc)
        assert answer.startswith("🎼 Запомнил мелодию") and "6 нот" in answer
        assert store.for_user(11) == []  # a score is not a job
        await say(fake, 11, 2, "/fixwrong on")
        queued = await say(fake, 11, 3, attachments=clip)
        assert queued == t("queued", "ru", position=1)
        # a small doc that is no score goes on as a clip, after one look at its bytes
        assert await say(fake, 14, 1, attachments=bytes_doc) == t("queued", "ru", position=2)
        # "/tune" written on a MusicXML doc: the file becomes the tune
        from_xml = await say(fake, 12, 1, "/tune", attachments=xml_doc)
        assert "Test Tune" in from_xml and "8 нот" in from_xml
        assert "Я взял дорожку 2 «Piano»" in from_xml  # the busiest of two, and how to change
        flute = await say(fake, 12, 2, "/tune 1", attachments=xml_doc)
        assert "7 нот" in flute and "дорожку 1 «Flute»" in flute
        assert await say(fake, 12, 3, "/tune 9", attachments=xml_doc) == t(
            "tune_no_such_track", "ru", track=9
        )
        assert await say(fake, 12, 4, "/tune hi", attachments=xml_doc) == t(
            "tune_doc_track_hint", "ru"
        )
    (job,) = store.for_user(11)
    options = correct_options(job.options, "cpu")
    assert options.score is not None and options.fix_wrong_notes
    assert options.score.midi().tolist() == [67, 64, 64, 67, 64, 64]
    assert options.score.source == "midi:мелодия"
    # No worker runs here: a clip named as video was never fetched by the handler.
    assert "clip.mp4" not in fake.file_hits and fake.file_hits["notes.bin"] == 1
    assert _leftovers(settings.work_dir) == []  # the downloaded score is gone


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00", "score_unreadable"),
        (b"MThd\xff\xff\xff\xf0\x00\x01\x00\x01\x01\xe0", "score_hostile"),
        (b'<?xml version="1.0"?><score-partwise><part-list>', "score_unreadable"),
        (
            b'<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"><part-name>'
            b'x</part-name></score-part></part-list><part id="P1"><measure number="1">'
            b"<note><rest/><duration>4</duration></note></measure></part></score-partwise>",
            "score_empty",
        ),
    ],
)
async def test_a_bad_score_doc_is_refused_with_its_message(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, code: str
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    doc = [doc_attachment(fake.add_file("bad.mid", data), title="bad.mid", size=len(data))]
    async with running_bot(settings, fake):
        await say(fake, 13, 1, "/tune до ре ми")
        assert await say(fake, 13, 2, attachments=doc) == t(f"error_{code}", "ru")
    assert jobs.SqliteJobStore(settings.jobs_path).for_user(13) == []
    assert _leftovers(settings.work_dir) == []
    kept = SqlitePrefsStore(settings.jobs_path).get(13).tune
    assert kept is not None and Score.from_dict(kept) == load_score("до ре ми")


def test_a_damaged_stored_tune_is_a_refused_score_not_a_crash() -> None:
    from core.errors import ScoreUnreadable

    with pytest.raises(ScoreUnreadable):
        correct_options({"score": {"source": "inline", "notes": "garbage"}}, "cpu")
    assert correct_options({"score": None, "fix_wrong_notes": True}, "cpu").score is None
