"""``python -m bot bot``: the whole service on one machine (bot + embedded queue + worker)."""

from __future__ import annotations

from pathlib import Path

from fakevk import FakeVK, doc_attachment
from fakevk.harness import TOKEN, make_settings, service_process, settings_env

from bot.jobs import random_id_for
from bot.texts import t


async def test_smask_bot_runs_bot_and_embedded_worker(fake: FakeVK, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake)
    env = settings_env(settings)
    env["SMASK_LOG_LEVEL"] = "DEBUG"
    # Relative paths, as an operator writes them: they mean the directory smask was started in,
    # for the bot and for its embedded worker alike (the bot chdirs into the state directory).
    env.update(
        {
            "SMASK_STATE_DIR": "state",
            "SMASK_JOBS_PATH": "var/jobs.db",
            "SMASK_QUEUE_PATH": "var/queue.db",
            "SMASK_WORK_DIR": "var/work",
        }
    )
    log_path = tmp_path / "service.log"
    async with service_process(fake, env, tmp_path, log_path) as proc:
        url = fake.add_file("notes.mp4", b"these are my notes, not a video\n" * 20)
        await fake.push_message(
            peer_id=60, message_id=1, attachments=[doc_attachment(url, size=640)]
        )

        def answered() -> bool:
            error_id = random_id_for("60_1", "error")
            return any(m.random_id == error_id for m in fake.replies_to(60, 1))

        await fake.wait_for(answered, timeout_s=120)
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    texts = {m.text for m in fake.replies_to(60, 1)}
    assert t("error_not_media", "ru") in texts
    assert t("queued", "ru", position=1) in texts
    # resumable long poll
    assert (tmp_path / "state" / ".vkbottle" / "bot-polling" / "77.json").exists()
    assert (tmp_path / "var" / "jobs.db").exists()
    assert not (tmp_path / "state" / "var").exists()  # the worker used the bot's tables
    assert TOKEN not in log_path.read_text()
