"""Voice messages and audio files through the whole bot: real vkbottle, real HTTP, real worker.

voice message (link_ogg, link_mp3) -> queued reply -> download through the allowlist ->
correction -> docs.getMessagesUploadServer(type=audio_message) -> upload -> docs.save ->
messages.send(voice, reply_to) and the summary with the pitch picture, checked on what the fake
VK server received. On SQLite and Redis.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakevk import FakeVK, audio_message_attachment, doc_attachment
from fakevk.harness import TOKEN, WorkerProcess, make_settings, running_bot, tracker_or_skip
from fakevk.redis_server import redis_server, redis_url  # noqa: F401
from media_factory import make_audio, run_ffmpeg, tone_expression
from test_bot_e2e import _audio_f0_hz, _cents

from bot import jobs
from bot.jobs import random_id_for
from bot.texts import t
from core.media.probe import MediaInfo, probe

pytestmark = pytest.mark.slow

DETUNE_CENTS = 35.0
A4_HZ = 440.0


def _voice_take(path: Path, *, seconds: float = 2.5, cents: float = DETUNE_CENTS) -> Path:
    """A held A4 ``cents`` sharp, recorded as VK records voice messages: mono OGG/Opus."""
    expr = tone_expression([(A4_HZ * 2 ** (cents / 1200), seconds)])
    return make_audio(path, "ogg_opus", expression=expr, duration_s=seconds, sample_rate=48000)


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("redis_url"))


async def test_voice_message_in_voice_message_out(
    fake: FakeVK, backend: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake, redis_url=backend)
    take = _voice_take(tmp_path / "take.ogg")
    link_ogg = fake.add_file("voice_11.ogg", take.read_bytes())
    link_mp3 = fake.add_file("voice_11.mp3", b"never fetched")
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()
    result_id = random_id_for("601_11", "result")
    report_id = random_id_for("601_11", "report")
    try:
        async with running_bot(settings, fake):
            await fake.push_message(
                peer_id=601,
                message_id=11,
                attachments=[audio_message_attachment(link_ogg, link_mp3, duration=3)],
            )

            def answered() -> bool:
                ids = {m.random_id for m in fake.replies_to(601, 11)}
                return {result_id, report_id} <= ids

            await fake.wait_for(answered, timeout_s=240)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, (tmp_path / "worker.log").read_text()[
            -3000:
        ]

    replies = {m.random_id: m for m in fake.replies_to(601, 11)}
    assert len(replies) == 3  # "queued", the voice message, the summary with the picture
    ack = replies[random_id_for("601_11", "ack")]
    assert ack.text == t("queued_voice", "ru", position=1)
    for stage in ("stage_downloading", "stage_analysing", "stage_retuning", "stage_uploading"):
        assert t(stage, "ru") in ack.edits, stage
    assert ack.edits[-1] == t("done_ack", "ru")
    # the OGG was fetched once, the MP3 fallback never
    assert fake.file_hits["voice_11.ogg"] == 1 and "voice_11.mp3" not in fake.file_hits
    # uploaded as a voice message: type=audio_message, with the chat's peer_id
    server_call = fake.calls_of("docs.getMessagesUploadServer")[-1]
    assert server_call["type"] == "audio_message" and server_call["peer_id"] == "601"
    voice, report = replies[result_id], replies[report_id]
    assert voice.reply_to == 11 and report.reply_to == 11
    assert voice.attachment.startswith("doc-77_") and "photo" not in voice.attachment
    assert "photo" in report.attachment
    assert report.text.startswith(t("result_voice", "ru", summary="").strip())
    out = tmp_path / "answer.ogg"
    out.write_bytes(fake.uploaded_doc_bytes(voice.attachment))
    info = probe(out)
    assert info.container == "ogg" and info.audio is not None
    assert info.audio.codec == "opus" and info.audio.channels == 1
    assert info.duration_s == pytest.approx(2.5, abs=0.03)  # within one Opus frame or so
    before = _cents(_audio_f0_hz(take, tmp_path), A4_HZ)
    after = _cents(_audio_f0_hz(out, tmp_path), A4_HZ)
    print(f"voice f0: {before:+.1f} cents before, {after:+.1f} cents after")
    assert before == pytest.approx(DETUNE_CENTS, abs=5)
    assert abs(after) < 10, f"still {after:.1f} cents off"
    job = jobs.make_store(settings).get("601_11")
    assert job is not None and job.state == "done" and job.kind == "voice"
    assert TOKEN not in (tmp_path / "worker.log").read_text()


async def test_voice_fallback_refusals_silence_and_audio_files(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker, six messages: the cases around the main path.

    * 701: link_ogg answers 404, link_mp3 works -> answered from the MP3, still as OGG/Opus.
    * 702: a voice message hosted off the allowlist -> refused before any download.
    * 703: half a second of silence -> a kind "nothing to correct", no upload, job done.
    * 704: a FLAC sent as a file -> a FLAC document back.
    * 705: an M4A sent as a file -> an M4A document back (audio-only, no longer "not a video").
    * 706: a "voice message" whose link serves an HTML page -> its own message.
    """
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake, workers=2, max_waiting_per_user=3)
    take = _voice_take(tmp_path / "take.ogg", seconds=2.0)
    mp3 = tmp_path / "take.mp3"
    run_ffmpeg("-y", "-i", str(take), "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3", str(mp3))
    silence = tmp_path / "silence.ogg"
    run_ffmpeg("-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "0.5",
               "-c:a", "libopus", "-f", "ogg", str(silence))  # fmt: skip
    tune = tone_expression([(452.0, 2.0)])
    flac = make_audio(tmp_path / "take.flac", "flac_24", expression=tune)
    m4a = make_audio(tmp_path / "take.m4a", "m4a", expression=tune)

    missing = f"{fake.base_url}/files/gone.ogg"
    messages = {
        701: audio_message_attachment(missing, fake.add_file("701.mp3", mp3.read_bytes())),
        702: audio_message_attachment(
            "https://evil.example.com/v.ogg", "https://evil.example.com/v.mp3"
        ),
        703: audio_message_attachment(fake.add_file("703.ogg", silence.read_bytes())),
        704: doc_attachment(fake.add_file("704.flac", flac.read_bytes()), title="Гамма.flac"),
        705: doc_attachment(fake.add_file("705.m4a", m4a.read_bytes()), title="take.m4a"),
        706: audio_message_attachment(
            fake.add_file("706.ogg", b"<!DOCTYPE html><html><body>Error</body></html>")
        ),
    }
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()

    def final(peer: int) -> list[str]:
        ids = {random_id_for(f"{peer}_1", p): p for p in ("result", "error", "refused")}
        return [ids[m.random_id] for m in fake.replies_to(peer, 1) if m.random_id in ids]

    try:
        async with running_bot(settings, fake):
            for peer, attachment in messages.items():
                await fake.push_message(peer_id=peer, message_id=1, attachments=[attachment])
            await fake.wait_for(lambda: all(final(p) for p in messages), timeout_s=240)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, (tmp_path / "worker.log").read_text()[
            -3000:
        ]

    def one(peer: int, purpose: str) -> str:
        (m,) = [
            m
            for m in fake.replies_to(peer, 1)
            if m.random_id == random_id_for(f"{peer}_1", purpose)
        ]
        return m.attachment or m.text

    # 701: the OGG link failed, the MP3 was used, the answer is still a voice message
    assert fake.file_hits["701.mp3"] == 1
    voice = probe_bytes(tmp_path / "701.ogg", fake.uploaded_doc_bytes(one(701, "result")))
    assert voice.container == "ogg" and voice.audio and voice.audio.codec == "opus"
    # 702: refused on the host, nothing downloaded, no job
    assert one(702, "refused") == t("host_not_allowed", "ru")
    assert not [k for k in fake.file_hits if "evil" in k]
    assert jobs.make_store(settings).get("702_1") is None
    # 703: silence is "nothing to correct", said kindly, and the job is done
    assert one(703, "result") == t("voice_nothing_to_correct", "ru")
    job = jobs.make_store(settings).get("703_1")
    assert job is not None and job.state == "done"
    # 704, 705: audio files come back as documents in their own format family
    flac_doc = [d for d in fake.saved_docs if d.get("title", "").endswith(".flac")]
    assert [d["title"] for d in flac_doc] == ["Гамма_tuned.flac"]
    back = probe_bytes(tmp_path / "704.flac", fake.uploaded_doc_bytes(one(704, "result")))
    assert back.container == "flac" and back.audio and back.audio.bits_per_sample == 24
    back = probe_bytes(tmp_path / "705.m4a", fake.uploaded_doc_bytes(one(705, "result")))
    assert back.container == "m4a" and back.video is None
    # 706: an HTML page is named as such
    assert one(706, "error") == t("error_web_page", "ru")
    # only 701's voice, 704 and 705's files were uploaded
    uploads = fake.calls_of("docs.getMessagesUploadServer")
    assert sorted(c.get("type", "doc") for c in uploads) == ["audio_message", "doc", "doc"]


def probe_bytes(path: Path, data: bytes) -> MediaInfo:
    path.write_bytes(data)
    return probe(path)
