"""The Callback API endpoint: confirmation, secret check, and events handled once."""

from __future__ import annotations

import json
import logging
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


DEEP = 100_000  # nesting levels: far past the JSON parser's recursion limit


def _malformed_bodies() -> dict[str, tuple[bytes, int]]:
    """Each malformed body and the status it must get (4xx, never 500)."""

    def event(*, ascii_only: bool = False, **fields: object) -> bytes:
        base: dict[str, object] = {"type": "message_new", "group_id": 77, "secret": "s3cret"}
        return json.dumps({**base, **fields}, ensure_ascii=ascii_only).encode()

    nested_object = b'{"type": "message_new", "secret": "s3cret", "object": ' + b"[" * DEEP
    nested_object += b"]" * DEEP + b"}"
    return {
        "non-ASCII secret": (event(secret="сек\u0440ет-🔑"), 403),
        "secret with a NUL and a lone surrogate": (
            event(secret="s3\x00\ud800", ascii_only=True),
            403,
        ),
        "secret as a number": (event(secret=7), 403),
        "secret as an object": (event(secret={"s3cret": True}), 403),
        "deeply nested array": (b"[" * DEEP + b"]" * DEEP, 400),
        "deeply nested object value": (nested_object, 400),
        "top-level string": (b'"message_new"', 400),
        "top-level number": (b"1e999", 400),
        "top-level null": (b"null", 400),
        "type as a number": (event(type=5), 400),
        "type missing": (json.dumps({"group_id": 77, "secret": "s3cret"}).encode(), 400),
        "object as a list": (event(object=[1, 2]), 400),
        "group_id as a list": (event(group_id=[77]), 400),
        "group_id as an object": (event(group_id={"id": 77}), 400),
        "group_id as true": (event(group_id=True), 400),
        "group_id as words": (event(group_id="seventy-seven"), 400),
        "group_id of 5000 digits": (event(group_id="7" * 5000), 400),
        "integer literal of 5000 digits": (b'{"type": "x", "n": ' + b"7" * 5000 + b"}", 400),
        "invalid UTF-8": (b'{"type": "\xff\xfe\xfa", "secret": "s3cret"}', 400),
        "truncated": (event()[:-3], 400),
        "empty": (b"", 400),
        "huge body": (event(pad="x" * (2 * 1024 * 1024)), 413),
    }


async def test_every_malformed_body_gets_a_4xx_never_a_500(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    settings = replace(
        make_settings(tmp_path, fake), callback_confirmation="c0nf1rm", callback_secret="s3cret"
    )
    bot = create_bot(settings)
    server = TestServer(make_callback_app(bot, settings), host="127.0.0.1")
    await server.start_server()
    statuses: dict[str, int] = {}
    try:
        async with aiohttp.ClientSession() as http:
            for name, (body, _) in _malformed_bodies().items():
                async with http.post(url_of(server, settings), data=body) as resp:
                    statuses[name] = resp.status
            # the endpoint still works after all that
            confirm = {"type": "confirmation", "group_id": 77, "secret": "s3cret"}
            async with http.post(url_of(server, settings), json=confirm) as resp:
                assert await resp.text() == "c0nf1rm"
    finally:
        await server.close()
        await bot.api.http_client.close()
    assert statuses == {name: status for name, (_, status) in _malformed_bodies().items()}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not fake.calls_of("messages.send")  # nothing malformed reached a handler


async def test_a_well_formed_event_with_a_broken_object_is_logged_in_one_line(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Valid JSON with our secret but a message vkbottle cannot read: 200 (VK must not re-send
    it for ever), a warning line, no traceback."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    settings = replace(make_settings(tmp_path, fake), callback_secret="s3cret")
    bot = create_bot(settings)
    server = TestServer(make_callback_app(bot, settings), host="127.0.0.1")
    await server.start_server()
    broken = {
        "type": "message_new",
        "group_id": 77,
        "secret": "s3cret",
        "event_id": "e1",
        "v": "5.199",
        "object": {"message": {"id": "not a number", "peer_id": [1]}},
    }
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url_of(server, settings), json=broken) as resp,
        ):
            assert resp.status == 200
    finally:
        await server.close()  # waits for the handler task
        await bot.api.http_client.close()
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("smask")]
    assert not fake.calls_of("messages.send")
