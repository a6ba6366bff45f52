"""The whole path through the real vkbottle Bot, real HTTP, a fake VK server and a real worker.

message with a doc -> queued reply -> download from the fake server -> real processing ->
docs.getMessagesUploadServer -> upload -> docs.save -> messages.send(attachment, reply_to),
checked on what the fake server received. Runs on SQLite and, when redis-server exists, Redis.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from fakevk import FakeVK, doc_attachment, video_attachment
from fakevk.harness import (
    TOKEN,
    WorkerProcess,
    make_clip,
    make_settings,
    running_bot,
    tracker_or_skip,
)
from fakevk.redis_server import redis_server, redis_url  # noqa: F401

from bot.jobs import random_id_for
from bot.texts import t

pytestmark = pytest.mark.slow

DETUNE_CENTS = 35.0  # the clip's note is this sharp of A4
A4_HZ = 440.0


def _audio_f0_hz(mp4: Path, tmp: Path) -> float:
    """Median f0 of the clip's middle second, from the spectrum peak of the fundamental."""
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(mp4),
         "-vn", "-ac", "1", "-ar", "44100", "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    audio = np.frombuffer(raw, dtype=np.float32)
    sr = 44100
    mid = audio[len(audio) // 2 - sr // 2 : len(audio) // 2 + sr // 2]
    n = 1 << 19
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid)), n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    band = (freqs > 300) & (freqs < 600)
    return float(freqs[band][np.argmax(spectrum[band])])


def _cents(f_hz: float, ref_hz: float) -> float:
    return float(1200 * np.log2(f_hz / ref_hz))


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("redis_url")


async def test_clip_in_corrected_clip_out(
    fake: FakeVK, backend: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker_or_skip()
    monkeypatch.chdir(tmp_path)  # vkbottle keeps polling state under ./.vkbottle/
    settings = make_settings(tmp_path, fake, redis_url=backend)
    clip = make_clip(tmp_path / "take.mp4", f0_hz=A4_HZ * 2 ** (DETUNE_CENTS / 1200), seconds=2.5)
    url = fake.add_file("take.mp4", clip.read_bytes())
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()
    try:
        async with running_bot(settings, fake):
            await fake.push_message(
                peer_id=501,
                message_id=11,
                attachments=[doc_attachment(url, title="take.mp4", size=clip.stat().st_size)],
            )
            await fake.wait_for(lambda: len(fake.replies_to(501, 11)) >= 2, timeout_s=240)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0, (tmp_path / "worker.log").read_text()[
            -3000:
        ]

    replies = sorted(fake.replies_to(501, 11), key=lambda m: m.message_id)
    ack, result = replies[0], replies[-1]
    assert len(replies) == 2
    assert ack.random_id == random_id_for("501_11", "ack")
    assert "очереди" in ack.text and "1" in ack.text  # Russian by default, position 1
    assert ack.edits and ack.edits[-1].startswith("✅")  # edited as the job advanced
    for stage in ("stage_downloading", "stage_analysing", "stage_retuning", "stage_uploading"):
        assert t(stage, "ru") in ack.edits, stage
    # the download came from the fake server, the upload went through docs.* with peer_id
    assert fake.file_hits["take.mp4"] == 1
    assert fake.calls_of("docs.getMessagesUploadServer")[-1]["peer_id"] == "501"
    saved = fake.calls_of("docs.save")[-1]
    assert saved["title"].endswith(".mp4")
    # the answer: reply_to the user's message, the doc (and picture) attached, stable random_id
    assert result.reply_to == 11
    assert result.random_id == random_id_for("501_11", "result")
    assert result.attachment.startswith(f"doc-{fake.group_id}_")
    assert "photo" in result.attachment
    out = tmp_path / "answer.mp4"
    out.write_bytes(fake.uploaded_doc_bytes(result.attachment))
    assert out.read_bytes()[4:8] == b"ftyp"
    from core.media.probe import probe

    info = probe(out, require_video=True)
    assert info.duration_s == pytest.approx(2.5, abs=0.15)
    before = _cents(_audio_f0_hz(clip, tmp_path), A4_HZ)
    after = _cents(_audio_f0_hz(out, tmp_path), A4_HZ)
    print(f"clip f0: {before:+.1f} cents before, {after:+.1f} cents after correction")
    assert before == pytest.approx(DETUNE_CENTS, abs=5)
    assert abs(after) < 10, f"still {after:.1f} cents off after correction"
    assert TOKEN not in (tmp_path / "worker.log").read_text()


async def test_video_attachment_gets_send_as_file_hint(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    async with running_bot(settings, fake):
        await fake.push_message(peer_id=502, message_id=5, attachments=[video_attachment()])
        await fake.wait_for(lambda: bool(fake.replies_to(502, 5)), timeout_s=30)
    (answer,) = fake.replies_to(502, 5)
    assert "скрепка" in answer.text and "Файл" in answer.text
