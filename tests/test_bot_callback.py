"""The Callback API endpoint: confirmation, secret check, and events handled once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from fakevk import FakeVK
from fakevk.harness import make_settings

from bot.app import create_bot
from bot.callback import make_callback_app
from bot.settings import Settings
from bot.texts import t


@pytest.fixture
async def fake() -> AsyncIterator[FakeVK]:
    server = await FakeVK(group_id=77).start()
    yield server
    await server.stop()


async def test_callback_confirms_checks_secret_and_answers_once(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = replace(
        make_settings(tmp_path, fake), callback_confirmation="c0nf1rm", callback_secret="s3cret"
    )
    assert "s3cret" not in repr(settings)
    bot = create_bot(settings)
    server = TestServer(make_callback_app(bot, settings), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url(settings.callback_path))
    message = await fake.push_message(peer_id=40, message_id=3, text="/help")
    event = {**message, "secret": "s3cret"}
    try:
        async with aiohttp.ClientSession() as http:
            confirm = {"type": "confirmation", "group_id": 77, "secret": "s3cret"}
            async with http.post(url, json=confirm) as resp:
                assert await resp.text() == "c0nf1rm"
            async with http.post(url, json={**event, "secret": "wrong"}) as resp:
                assert resp.status == 403
            for body in ([event], "event", 7, None):  # valid JSON, but not an event object
                async with http.post(url, json=body) as resp:
                    assert resp.status == 400
            async with http.post(url, json={**event, "group_id": "seventy-seven"}) as resp:
                assert resp.status == 400
            async with http.post(url, data=b"{not json") as resp:
                assert resp.status == 400
            for _ in range(2):  # VK re-sends an event it thinks was not acknowledged
                async with http.post(url, json=event) as resp:
                    assert await resp.text() == "ok"
        await fake.wait_for(lambda: bool(fake.replies_to(40, 3)), timeout_s=30)
    finally:
        await server.close()
        await bot.api.http_client.close()
    unguarded = replace(settings, callback_secret="")  # built in code, bypassing from_env
    server = TestServer(make_callback_app(bot, unguarded), host="127.0.0.1")
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url_of(server, unguarded), json=event) as resp,
        ):
            assert resp.status == 403  # no secret configured: nothing is taken as VK's
    finally:
        await server.close()
    (answer,) = fake.replies_to(40, 3)
    assert answer.text == t("help", "ru")
    assert len(fake.calls_of("messages.send")) == 1


def url_of(server: TestServer, settings: Settings) -> str:
    return str(server.make_url(settings.callback_path))
