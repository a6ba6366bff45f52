"""The bot in a class chat (issue 23, point 8), through the real Bot and the fake VK, which
follows docs/vk-api-notes.md for chats: the bot acts only when addressed (a mention, a reply to
one of its messages, a command), answers by forwarding the learner's message with is_reply,
and edits its acknowledgements by conversation_message_id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakevk import FakeVK, audio_message_attachment, doc_attachment
from fakevk.harness import WorkerProcess, make_settings, running_bot, say, tracker_or_skip
from fakevk.server import Sent

from bot import jobs
from bot.texts import t

LANGS = ("ru", "en")
CHAT = 2_000_000_005
GROUP = 77


def _answers_in_chat(fake: FakeVK, cmid: int) -> list[Sent]:
    """Our answers that reply to the chat message ``cmid`` the way the notes say: a forward of
    it with is_reply (never reply_to, which a chat message seen by a community may lack)."""
    found = []
    for m in fake.sent_to(CHAT):
        if m.forward:
            forward = json.loads(m.forward)
            assert forward["peer_id"] == CHAT and forward["is_reply"] == 1
            if cmid in forward["conversation_message_ids"]:
                assert m.reply_to == 0
                found.append(m)
    return found


async def _set_lang(fake: FakeVK, user: int, lang: str) -> None:
    if lang != "ru":  # settings are the learner's own, set in a private chat
        assert (await say(fake, user, 1, f"/lang {lang}")).startswith(t("settings_saved", lang))


@pytest.mark.parametrize("lang", LANGS)
async def test_chat_talk_and_shared_files_get_nothing_and_nothing_is_downloaded(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    pdf = fake.add_file("notes.pdf", b"%PDF-1.4\n% the lesson's sheet music\n%%EOF\n")
    voice = fake.add_file("voice.ogg", b"OggS: a pupil singing to the class")
    async with running_bot(settings, fake):
        await _set_lang(fake, 60, lang)
        teacher_pdf = [doc_attachment(pdf, title="notes.pdf", size=40)]
        await fake.push_message(
            peer_id=CHAT, from_id=60, message_id=1, text="вот ноты к уроку", attachments=teacher_pdf
        )
        await fake.push_message(
            peer_id=CHAT, from_id=60, message_id=2, attachments=[audio_message_attachment(voice)]
        )
        await fake.push_message(peer_id=CHAT, from_id=60, message_id=3, text="помощь")
        await fake.push_message(peer_id=CHAT, from_id=60, message_id=4, text="@someone привет")
        # A command is addressed: it is answered, as a reply to it; the messages before it,
        # handled first, have been dropped by then.
        status = await say(fake, CHAT, 5, "/status", from_id=60)
    assert t("status_none", lang) in status
    assert _answers_in_chat(fake, 5) and not fake.calls_of("messages.edit")
    for msg in (1, 2, 3, 4):
        assert fake.replies_to(CHAT, msg) == [], msg
    assert fake.doc_downloads() == 0
    assert jobs.SqliteJobStore(settings.jobs_path).for_user(60) == []
    assert len(fake.sent_to(CHAT)) == 1


@pytest.mark.parametrize("lang", LANGS)
async def test_addressed_clips_in_a_chat_are_taken_answered_as_replies_and_edited_by_cmid(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """As a community sees a chat: message ids are 0, only conversation_message_ids count."""
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake, max_waiting_per_user=5)
    voice = fake.add_file("voice.ogg", b"not processed: no worker runs in this test")
    sung = [audio_message_attachment(voice)]
    store = jobs.SqliteJobStore(settings.jobs_path)

    async def chat(cmid: int, text: str = "", **kw: object) -> None:
        await fake.push_message(peer_id=CHAT, from_id=61, message_id=0, cmid=cmid, text=text, **kw)  # type: ignore[arg-type]

    async with running_bot(settings, fake):
        await _set_lang(fake, 61, lang)
        # 1. a mention with a voice message
        await chat(31, f"[club{GROUP}|@smask] моя запись", attachments=sung)
        await fake.wait_for(lambda: bool(_answers_in_chat(fake, 31)))
        (ack,) = _answers_in_chat(fake, 31)
        assert t("queued_voice", lang, position=1) == ack.text
        # 2. a voice message replying to the bot's message, no words
        await chat(32, attachments=sung, reply_message=ack.reply_message(GROUP))
        await fake.wait_for(lambda: bool(_answers_in_chat(fake, 32)))
        (second,) = _answers_in_chat(fake, 32)
        assert t("queued_voice", lang, position=2) == second.text
        # 3. the community's @name typed out, then a command: /cancel, answered as a reply
        await chat(33, "@fake /cancel")
        await fake.wait_for(lambda: bool(_answers_in_chat(fake, 33)))
        # 4. a mention with words only: the short help
        await chat(34, f"[club{GROUP}|Маски], привет")
        await fake.wait_for(lambda: bool(_answers_in_chat(fake, 34)))
    (cancelled,) = _answers_in_chat(fake, 33)
    assert cancelled.text == t("cancel_done", lang, count=2)
    assert _answers_in_chat(fake, 34)[0].text == t("help", lang)
    # the acknowledgements were edited the way a chat allows: by cmid, to their final state
    assert ack.current_text == t("cancelled_ack", lang) == second.current_text
    edits = fake.calls_of("messages.edit")
    assert len(edits) == 2
    assert all("cmid" in e and "message_id" not in e for e in edits)
    assert {int(e["cmid"]) for e in edits} == {ack.cmid, second.cmid}
    assert [j.job_id for j in store.active()] == []
    assert fake.doc_downloads() == 0  # the bot itself downloads no clip; its worker would


@pytest.mark.slow
async def test_an_addressed_voice_message_in_a_chat_comes_back_as_a_reply(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path in a chat: the worker's result and report forward the learner's message,
    and its progress edits reach the acknowledgement by cmid, ending at "done"."""
    tracker_or_skip()
    from test_bot_voice import _voice_take

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    link = fake.add_file("voice_41.ogg", _voice_take(tmp_path / "take.ogg").read_bytes())
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()
    try:
        async with running_bot(settings, fake):
            await fake.push_message(
                peer_id=CHAT,
                from_id=62,
                message_id=0,
                cmid=41,
                text=f"[club{GROUP}|@smask]",
                attachments=[audio_message_attachment(link)],
            )

            def answered_and_done() -> bool:  # the "done" edit follows the answer
                found = _answers_in_chat(fake, 41)
                return len(found) == 3 and found[0].current_text == t("done_ack", "ru")

            await fake.wait_for(answered_and_done, timeout_s=240)
    finally:
        worker.stop()
    ack, voice, report = _answers_in_chat(fake, 41)
    assert ack.current_text == t("done_ack", "ru")
    assert voice.attachment.startswith("doc") and report.text
    edits = fake.calls_of("messages.edit")
    assert edits and all(int(e["cmid"]) == ack.cmid for e in edits)
