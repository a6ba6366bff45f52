"""The queue keeps what its acknowledgements promise (issue 23, point 7), through the real Bot
and the fake VK: /cancel turns every cancelled "in the queue" into "cancelled", a burst is taken
in the order it was sent, and a message with several clips makes one job per clip, naming the
ones left out. No worker runs: these are the bot's own answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fakevk import FakeVK, doc_attachment
from fakevk.harness import make_settings, running_bot, say
from fakevk.server import Sent

from bot import jobs
from bot.jobs import random_id_for
from bot.texts import t

LANGS = ("ru", "en")
FOREIGN_HOST_URL = "https://evil.example.com/clip.mp4"


def _ack(fake: FakeVK, peer: int, msg: int, part: int = 0) -> Sent:
    """Our "queued" answer for the ``part``-th clip of message ``msg``."""
    job_id = jobs.job_id_for(peer, msg, msg, part) if part else jobs.job_id_for(peer, msg)
    rid = random_id_for(job_id, "ack")
    (ack,) = [m for m in fake.replies_to(peer, msg) if m.random_id == rid]
    return ack


def _is_queued(text: str, lang: str) -> bool:
    """An acknowledgement by meaning: it says "in the queue" and gives a position."""
    word = "очереди" if lang == "ru" else "queue"
    return word in text and re.search(r"\d", text) is not None


async def _set_lang(fake: FakeVK, peer: int, msg: int, lang: str) -> None:
    if lang != "ru":
        assert (await say(fake, peer, msg, f"/lang {lang}")).startswith(t("settings_saved", lang))


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_turns_every_queued_acknowledgement_into_cancelled(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake, max_waiting_per_user=5)
    url = fake.add_file("clip.mp4", b"not processed: no worker runs in this test")
    clip = [doc_attachment(url, size=100)]
    async with running_bot(settings, fake):
        await _set_lang(fake, 30, 1, lang)
        for msg in (2, 3, 4):
            assert _is_queued(await say(fake, 30, msg, attachments=clip), lang)
        await say(fake, 31, 1, attachments=clip)  # someone else's clip stays queued
        assert "3" in await say(fake, 30, 5, "/cancel")
    for msg in (2, 3, 4):
        ack = _ack(fake, 30, msg)
        assert ack.current_text == t("cancelled_ack", lang), (msg, ack.current_text)
        assert not _is_queued(ack.current_text, lang)
    assert _is_queued(_ack(fake, 31, 1).current_text, "ru")
    store = jobs.SqliteJobStore(settings.jobs_path)
    assert [j.state for j in store.for_user(30)] == []
    assert [j.state for j in store.for_user(31)] == ["queued"]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_burst_is_taken_in_the_order_it_was_sent(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """Several users each send six clips at once; each user's first three (the limit) are
    taken, in order, and the last three refused: never a later clip before an earlier one."""
    monkeypatch.chdir(tmp_path)
    limit, burst, users = 3, 6, range(40, 46)
    settings = make_settings(tmp_path, fake, max_waiting_per_user=limit)
    url = fake.add_file("clip.mp4", b"not processed: no worker runs in this test")
    clip = [doc_attachment(url, size=100)]
    async with running_bot(settings, fake):
        for user in users:
            await _set_lang(fake, user, 1, lang)
        messages = [(user, 10 + i) for i in range(burst) for user in users]
        for user, msg in messages:
            await fake.push_message(peer_id=user, message_id=msg, attachments=clip)
        await fake.wait_for(lambda: all(fake.replies_to(u, m) for u, m in messages), 60)
    refusal = t("limit_user_waiting", lang, limit=limit)
    store = jobs.SqliteJobStore(settings.jobs_path)
    for user in users:
        answers = [fake.replies_to(user, 10 + i) for i in range(burst)]
        assert all(len(a) == 1 for a in answers), answers
        texts = [a[0].text for a in answers]
        assert [_is_queued(x, lang) for x in texts] == [True] * limit + [False] * (burst - limit)
        assert texts[limit:] == [refusal] * (burst - limit)
        acks = [a[0] for a in answers[:limit]]  # answered in the order they were sent
        assert [a.message_id for a in acks] == sorted(a.message_id for a in acks)
        taken = [j.job_id for j in store.for_user(user)]
        assert taken == [jobs.job_id_for(user, 10 + i) for i in range(limit)]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_message_with_several_clips_makes_a_job_for_each(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake, max_waiting_per_user=3)
    url = fake.add_file("clip.mp4", b"not processed: no worker runs in this test")
    store = jobs.SqliteJobStore(settings.jobs_path)

    def clips(*titles: str) -> list[dict[str, object]]:
        return [doc_attachment(url, title=n, size=100, doc_id=i) for i, n in enumerate(titles)]

    async with running_bot(settings, fake):
        await _set_lang(fake, 50, 1, lang)
        await _set_lang(fake, 51, 1, lang)
        # two clips: two jobs, two acknowledgements naming their clip, in attachment order
        await fake.push_message(peer_id=50, message_id=2, attachments=clips("a.mp4", "b.mp3"))
        await fake.wait_for(lambda: len(fake.replies_to(50, 2)) == 2)
        # four clips, three places: three jobs, and the fourth named as left out
        four = clips("one.mp4", "two.mp4", "three.mp4", "four.mp4")
        await fake.push_message(peer_id=51, message_id=2, attachments=four)
        await fake.wait_for(lambda: len(fake.replies_to(51, 2)) == 4)
        # a clip whose host is not allowed, beside a good one: the good one goes on
        bad = [doc_attachment(FOREIGN_HOST_URL, title="far.mp4", size=100, doc_id=9)]
        await say(fake, 50, 3, "/cancel")
        await fake.push_message(peer_id=50, message_id=4, attachments=clips("c.mp4") + bad)
        await fake.wait_for(lambda: len(fake.replies_to(50, 4)) == 2)

    two = fake.replies_to(50, 2)
    assert [_is_queued(m.text, lang) for m in two] == [True, True]
    assert "a.mp4" in two[0].text and "b.mp3" in two[1].text  # in order (by message id)
    assert [a.message_id for a in two] == sorted(a.message_id for a in two)
    assert _ack(fake, 50, 2, 1) is two[1]  # each clip has its own, editable acknowledgement

    four_answers = fake.replies_to(51, 2)
    acks, left_out = four_answers[:3], four_answers[3]
    for ack, title in zip(acks, ("one.mp4", "two.mp4", "three.mp4"), strict=True):
        assert _is_queued(ack.text, lang) and title in ack.text
    assert "four.mp4" in left_out.text and not _is_queued(left_out.text, lang)
    assert not any(n in left_out.text for n in ("one.mp4", "two.mp4", "three.mp4"))
    assert t("limit_user_waiting", lang, limit=3) in left_out.text  # says why
    assert [j.doc_title for j in store.for_user(51)] == ["one.mp4", "two.mp4", "three.mp4"]

    good, refused = fake.replies_to(50, 4)
    assert _is_queued(good.text, lang) and "c.mp4" in good.text
    assert "far.mp4" in refused.text and t("host_not_allowed", lang) in refused.text
    assert [j.doc_title for j in store.for_user(50)] == ["c.mp4"]
