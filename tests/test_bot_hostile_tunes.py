"""Issue 26 in the chat, through the real Bot and the fake VK server: hostile tune docs are
refused in seconds while another learner's /help is answered as usual, the bot's processes
stay within 1.5 GB, and a work dir the bot cannot write is our failure, not the file's."""

from __future__ import annotations

import logging
import os
import resource
import time
from pathlib import Path

import hostile_scores as hs
import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import make_settings, running_bot, say

from bot.texts import t

LIMIT_BYTES = 1536 * 2**20
HELP_WITHIN_S = 5.0


def _tree_rss_bytes() -> int:
    """Peak resident memory of this process (the bot runs in it) plus its live children's
    (the score reader), from /proc: the bot's whole process tree."""
    total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(os.getpid()):
            total += int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
    return total


HOSTILE_DOCS = {
    "beats.musicxml": (hs.absurd_beats, "error_score_hostile"),
    "bars.mxl": (hs.empty_measures, "error_score_file_too_large"),
    "meters.mid": (hs.time_signature_flood, "error_score_file_too_large"),
    "long.mid": (lambda: hs.event_flood(2**20 - 100), "error_score_file_too_large"),
    "huge.musicxml": (hs.huge_duration, "error_score_hostile"),
}


async def test_hostile_tune_docs_never_hold_up_another_learner(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    docs = {}
    for name, (make, key) in HOSTILE_DOCS.items():
        data = make()
        assert len(data) <= 2**20  # every one is a doc the bot fetches and reads itself
        docs[name] = ([doc_attachment(fake.add_file(name, data), title=name, size=len(data))], key)
    async with running_bot(settings, fake):
        attacks = []
        msg = 0
        for _round in range(3):
            for attachment, key in docs.values():
                msg += 1
                attacks.append((msg, key))
                await fake.push_message(
                    peer_id=21, message_id=msg, text="/tune", attachments=attachment
                )
        waits = []
        for k in range(1, 7):
            start = time.monotonic()
            answer = await say(fake, 22, k, "/help")
            waits.append(time.monotonic() - start)
            assert answer.strip()
        for msg_id, key in attacks:
            await fake.wait_for(lambda m=msg_id: bool(fake.replies_to(21, m)), timeout_s=60)
            (answer,) = fake.replies_to(21, msg_id)
            assert answer.text == t(key, "ru"), (msg_id, answer.text)
        assert max(waits) < HELP_WITHIN_S, waits
        assert _tree_rss_bytes() < LIMIT_BYTES


async def test_a_typed_tune_of_endless_sharps_gets_the_note_names_answer(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake)
    async with running_bot(settings, fake):
        answer = await say(fake, 23, 1, "/tune C D" + 150 * " диез")
        assert answer == t("error_score_unknown", "ru")


async def test_an_unwritable_work_dir_is_our_failure_not_the_doc(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A file where the work dir's parent should be: no one, root included (tests may run as
    # root, who writes through mode bits), can make a folder there.
    monkeypatch.chdir(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the work dir should be")
    settings = make_settings(tmp_path, fake, work_dir=blocked / "work")
    data = hs.absurd_beats()
    doc = [doc_attachment(fake.add_file("t.musicxml", data), title="t.musicxml", size=len(data))]
    with caplog.at_level(logging.ERROR, logger="smask.bot"):
        async with running_bot(settings, fake):
            answer = await say(fake, 24, 1, "/tune", attachments=doc)
    assert answer == t("error_processing_failed", "ru")
    assert any(
        "work dir" in r.getMessage() and "not a directory" in r.getMessage() for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


def test_the_os_failure_words_an_operator_looks_for() -> None:
    import errno

    from bot.handlers.tunes import os_failure

    assert os_failure(PermissionError(errno.EACCES, "Permission denied")) == "permission denied"
    assert os_failure(OSError(errno.ENOSPC, "No space left on device")) == "disk full"
