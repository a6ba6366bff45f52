"""Delivery of a result: doc upload with a .mp4 title, picture, optional playable video."""

from __future__ import annotations

from pathlib import Path

from fakevk import FakeVK
from fakevk.harness import make_clip

from bot.jobs import Job, random_id_for
from bot.vk import RetryingAPI, deliver, result_title


def _job() -> Job:
    return Job(
        job_id="9_4",
        peer_id=9,
        from_id=9,
        message_id=4,
        cmid=4,
        doc_url="",
        doc_title="моя запись!.MOV",
        doc_size=1,
    )


async def test_deliver_uploads_doc_and_video_and_replies_once(fake: FakeVK, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size="64x48")
    api = RetryingAPI("community", api_url=fake.api_url)
    user_api = RetryingAPI("user", api_url=fake.api_url)
    try:
        first = await deliver(api, _job(), clip, "готово", None, video_api=user_api, group_id=77)
        again = await deliver(api, _job(), clip, "готово", None, video_api=user_api, group_id=77)
    finally:
        await api.http_client.close()
        await user_api.http_client.close()
    assert first == again  # same random_id: VK keeps one message
    sent = fake.messages[first]
    assert sent.random_id == random_id_for("9_4", "result") and sent.reply_to == 4
    doc, video = sent.attachment.split(",")
    assert doc.startswith("doc-77_") and video.startswith("video-77_")
    assert fake.uploaded_doc_bytes(doc) == clip.read_bytes()
    assert fake.calls_of("docs.save")[0]["title"] == result_title(_job()) == "моя запись__tuned.mp4"
    assert fake.saved_videos[0]["group_id"] == "77"


async def test_a_failed_video_upload_still_delivers_the_doc(fake: FakeVK, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size="64x48")
    fake.fail_methods["video.save"] = 15
    api = RetryingAPI("community", api_url=fake.api_url)
    user_api = RetryingAPI("user", api_url=fake.api_url)
    try:
        message_id = await deliver(api, _job(), clip, "ok", None, video_api=user_api, group_id=77)
    finally:
        await api.http_client.close()
        await user_api.http_client.close()
    assert fake.messages[message_id].attachment.startswith("doc-77_")
    assert "video" not in fake.messages[message_id].attachment
