"""Bad files through the chat: each failure gets its own message, nothing unsafe is opened.

The real bot and a real worker process; the files are made with ffmpeg or by hand. A playlist
that points back at the fake server proves ffmpeg was never allowed to follow it.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import WorkerProcess, make_clip, make_settings, running_bot

from bot.jobs import random_id_for
from bot.texts import t

pytestmark = pytest.mark.slow

MAX_BYTES = 150_000


def _ffmpeg(out: Path, *args: str) -> bytes:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *args, str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out.read_bytes()


def _bad_files(tmp: Path, secret_url: str) -> dict[str, bytes]:
    good = make_clip(tmp / "good.mp4", seconds=1.0, size="64x48").read_bytes()
    tone = "sine=frequency=440:sample_rate=44100:duration=1"
    pic = "testsrc=size=64x48:rate=10:duration=1"
    lavfi = ("-f", "lavfi", "-i")
    return {
        "empty": b"",
        "not_media": random.Random(1).randbytes(4000),
        "unsupported_container": _ffmpeg(
            tmp / "c.mkv", *lavfi, pic, *lavfi, tone, "-c:v", "libx264", "-f", "matroska"
        ),
        # audio files are welcome now; a picture hidden in an "audio" file is not
        "video_in_audio": _ffmpeg(
            tmp / "t.ogg",
            *lavfi,
            pic,
            *lavfi,
            tone,
            "-c:v",
            "libtheora",
            "-c:a",
            "libvorbis",
            "-f",
            "ogg",
        ),
        "web_page": b"<!DOCTYPE html><html><head><title>404</title></head></html>",
        "corrupt": good[: len(good) // 3] if good[4:8] == b"ftyp" else good[:100],
        "hostile": f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{secret_url}\n".encode(),
        "no_audio": _ffmpeg(tmp / "v.mp4", *lavfi, pic, "-c:v", "libx264", "-an"),
        "silent": _ffmpeg(
            tmp / "s.mp4",
            *lavfi,
            pic,
            *lavfi,
            "anullsrc=r=44100:cl=mono",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
        ),
        "too_large": random.Random(2).randbytes(MAX_BYTES + 50_000),
    }


async def test_each_bad_input_gets_its_own_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = await FakeVK(group_id=77).start()
    settings = make_settings(tmp_path, fake, max_download_bytes=MAX_BYTES, workers=2)
    secret_url = fake.add_file("secret.ts", b"\x47" * 188 * 4)
    files = _bad_files(tmp_path, secret_url)
    expected: dict[int, str] = {}
    pending: list[tuple[int, dict[str, object]]] = []
    for peer, (code, data) in enumerate(files.items(), start=3001):
        url = fake.add_file(f"{code}.mp4", data)
        size = 1000 if code == "too_large" else len(data)  # VK's declared size may lie
        expected[peer] = t(f"error_{code}", "ru")
        pending.append((peer, doc_attachment(url, title=f"{code}.mp4", size=size)))
    refusals = {
        9001: (doc_attachment("https://evil.example.com/clip.mp4", size=1000), "host_not_allowed"),
        9002: (doc_attachment(fake.add_file("huge.mp4", b"x"), size=10**9), "declared_too_large"),
    }
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()
    try:
        async with running_bot(settings, fake):
            for p, att in pending:
                await fake.push_message(peer_id=p, message_id=1, attachments=[att])
            for p, (att, _) in refusals.items():
                await fake.push_message(peer_id=p, message_id=1, attachments=[att])

            def all_answered() -> bool:
                done = all(
                    any(
                        m.random_id == random_id_for(f"{p}_1", "error")
                        for m in fake.replies_to(p, 1)
                    )
                    for p in expected
                )
                return done and all(fake.replies_to(p, 1) for p in refusals)

            await fake.wait_for(all_answered, timeout_s=180)
    finally:
        exit_code = await asyncio.to_thread(worker.stop)
        await fake.stop()
    assert exit_code == 0

    for p, text in expected.items():
        (error,) = [
            m for m in fake.replies_to(p, 1) if m.random_id == random_id_for(f"{p}_1", "error")
        ]
        assert error.text == text, (p, error.text)
    assert len(set(expected.values())) == len(expected)  # every failure has its own words
    (host,) = fake.replies_to(9001, 1)
    assert host.text == t("host_not_allowed", "ru")
    (huge,) = fake.replies_to(9002, 1)
    assert huge.text.startswith("Файл слишком большой (953,7 МБ)")
    assert fake.file_hits.get("huge.mp4", 0) == 0  # refused before any download
    assert fake.file_hits.get("secret.ts", 0) == 0  # the playlist was never followed
    assert not fake.calls_of("docs.save")  # nothing bad was ever "corrected" and uploaded
