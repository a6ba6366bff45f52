"""No token, password or URL credential in any log line, whatever fails.

VK is made unreachable (connecting hangs: tests/fakevk/blackhole.py) in each phase of a job:
the download, a progress edit, the upload (docs.save), the answer (messages.send) and the
optional video.save with the admin's user token. Every log line, ours and the libraries',
is searched for both tokens; a last test runs the real ``smask bot`` process and searches its
output.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.blackhole import Blackhole
from fakevk.harness import (
    TOKEN,
    make_clip,
    make_settings,
    service_process,
    settings_env,
    tracker_or_skip,
)

from bot import jobs
from bot.jobs import Job, SqliteJobStore, SubmitLimits
from bot.logsafe import RedactingFilter, describe_error, redact
from bot.settings import Settings
from bot.vk import RetryingAPI, send
from bot.worker import Worker

USER_TOKEN = "user-token-5d1e0b"  # the admin's token for video.save
LIMITS = SubmitLimits(max_waiting_per_user=3, max_clips_per_hour=20, max_queue_length=10)


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    with Blackhole() as hole:
        yield hole


@pytest.fixture
async def fake(blackhole: Blackhole) -> AsyncIterator[FakeVK]:
    server = await FakeVK(group_id=77).start()
    server.unreachable_url = blackhole.base_url
    yield server
    await server.stop()


def _all_text(records: list[logging.LogRecord]) -> str:
    """Every record as a handler would print it, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


async def test_an_unreachable_vk_puts_the_token_in_the_exception(
    fake: FakeVK,
) -> None:
    """The hazard itself: aiohttp's error carries the URL, access_token included."""
    fake.unreachable_methods = {"messages.send"}
    api = RetryingAPI(TOKEN, api_url=fake.api_url, timeout_s=0.5)
    try:
        with pytest.raises(aiohttp.ClientError) as caught:
            await send(api, 5, "hi", random_id=1)
    finally:
        await api.http_client.close()
    assert TOKEN in str(caught.value)
    summary = describe_error(caught.value)
    assert TOKEN not in summary
    assert summary.startswith("ConnectionTimeoutError: ") and "/method/messages.send" in summary


def test_redaction_of_tokens_passwords_and_url_credentials() -> None:
    line = (
        "GET https://api.vk.ru/method/messages.send?access_token=vk1.a.XYZ&v=5.199 "
        "redis://:pw0rd@h:6379/0 redis://h:6379/0?password=hunter22&db=1 "
        "https://psv4.userapi.com/c1/doc.mp4?extra=SIG123&dl=1 "
        "{'access_token': 'vk1.a.XYZ'} literal-secret-42"
    )
    clean = redact(line, ["literal-secret-42"])
    for secret in ("vk1.a.XYZ", "pw0rd", "hunter22", "SIG123", "literal-secret-42"):
        assert secret not in clean
    assert "https://api.vk.ru/method/messages.send?access_token=***&v=5.199" in clean
    assert "redis://:***@h:6379/0" in clean and "?password=***&db=1" in clean


def test_the_filter_cleans_messages_arguments_and_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter([TOKEN]))
    logger = logging.getLogger("test.logsafe")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        url = f"http://h/method/messages.send?access_token={TOKEN}"
        logger.warning("failed: %r", aiohttp.ClientError(url))
        try:
            raise RuntimeError(f"wrapped {url}")
        except RuntimeError:
            logger.exception("with a traceback")
        logger.warning("a token %s on its own", TOKEN)
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert TOKEN not in text
    assert "Traceback" in text and "RuntimeError: wrapped" in text
    assert text.count("***") >= 3


def _settings(tmp_path: Path, fake: FakeVK) -> Settings:
    return make_settings(
        tmp_path, fake, vk_user_token=USER_TOKEN, vk_timeout_s=1.0, download_timeout_s=1.0
    )


PHASES = {
    # phase: (unreachable VK methods, the download is unreachable, the job must end as)
    "download": (set(), True, "queued"),
    "progress_edit": ({"messages.edit"}, False, "done"),  # edits are cosmetic: the job goes on
    "upload": ({"docs.save"}, False, "queued"),
    "send": ({"messages.send"}, False, "queued"),
    "video_save": ({"video.save"}, False, "done"),  # the playable copy is a bonus
}


@pytest.mark.parametrize("phase", sorted(PHASES))
async def test_vk_unreachable_in_each_phase_leaks_no_token(
    fake: FakeVK,
    blackhole: Blackhole,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    phase: str,
) -> None:
    methods, download_unreachable, end_state = PHASES[phase]
    if not download_unreachable:
        tracker_or_skip()
    caplog.set_level(logging.DEBUG)
    settings = _settings(tmp_path, fake)
    clip = make_clip(tmp_path / "clip.mp4", f0_hz=452.0, seconds=1.0, size="64x48")
    url = (
        f"{blackhole.base_url}/files/clip.mp4?extra=doc-signature"
        if download_unreachable
        else fake.add_file("clip.mp4", clip.read_bytes())
    )
    store = SqliteJobStore(settings.jobs_path)
    job = Job(
        job_id=jobs.job_id_for(50, 1),
        peer_id=50,
        from_id=50,
        message_id=1,
        cmid=1,
        doc_url=url,
        doc_title="clip.mp4",
        doc_size=1000,
    )
    assert store.submit(job, LIMITS).created
    ack = await _ack(fake, settings)
    jobs.set_reply_message(store, job.job_id, ack)
    fake.unreachable_methods = methods
    retries: list[tuple[str, float]] = []
    worker = Worker(
        settings,
        store,
        lambda job_id: retries.append((job_id, 0.0)),
        enqueue_later=lambda job_id, delay_s: retries.append((job_id, delay_s)),
    )
    await worker.run_job(job.job_id)

    final = store.get(job.job_id)
    assert final is not None and final.state == end_state, _all_text(caplog.records)[-3000:]
    for method in methods:  # the call was really made, and really hung
        assert fake.calls_of(method), method
    text = _all_text(caplog.records)
    assert TOKEN not in text and USER_TOKEN not in text
    assert "doc-signature" not in text
    if end_state == "queued":
        assert retries == [(job.job_id, 10.0)]
        assert "attempt 1 failed (" in text
    else:
        assert "could not edit" in text or "video upload failed" in text
        # The operator's line for a finished job: what was heard and how cleanly.
        assert re.search(
            r"done, answered with message \d+; \d+ notes, harmonicity \d+\.\d dB", text
        )


async def _ack(fake: FakeVK, settings: Settings) -> int:
    api = RetryingAPI(settings.vk_token, api_url=fake.api_url)
    try:
        return await send(api, 50, "queued", random_id=99)
    finally:
        await api.http_client.close()


async def test_smask_bot_output_holds_no_token_when_vk_is_unreachable(
    fake: FakeVK, tmp_path: Path
) -> None:
    """The real service: the bot's own acknowledgement and the worker's answer both hang."""
    tracker_or_skip()
    settings = _settings(tmp_path, fake)
    env = settings_env(settings)
    env.update(
        {
            "SMASK_VK_TIMEOUT_S": "1",
            "SMASK_LOG_LEVEL": "DEBUG",
            "SMASK_REDIS_URL": "",
            "VK_CALLBACK_SECRET": "callback-secret-31",
        }
    )
    clip = make_clip(tmp_path / "clip.mp4", f0_hz=452.0, seconds=1.0, size="64x48")
    url = fake.add_file("clip.mp4", clip.read_bytes())
    fake.unreachable_methods = {"messages.send"}
    log_path = tmp_path / "service.log"
    async with service_process(fake, env, tmp_path, log_path) as proc:
        await fake.push_message(
            peer_id=61, message_id=1, attachments=[doc_attachment(url, size=1000)]
        )
        store = SqliteJobStore(settings.jobs_path)

        def retried() -> bool:  # the worker's answer failed and the job was put back
            job = store.get("61_1")
            return job is not None and job.attempts == 1 and job.state == "queued"

        deadline = time.monotonic() + 180
        while not retried():  # polling the job table, bounded by the deadline
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            await asyncio.sleep(0.1)
    text = log_path.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert len(fake.calls_of("messages.send")) >= 2  # the acknowledgement and the answer
    assert "attempt 1 failed (ConnectionTimeoutError" in text
    for secret in (TOKEN, USER_TOKEN, "callback-secret-31"):
        assert secret not in text
