"""VK API errors: rate and server errors retried, access errors told to the operator."""

from __future__ import annotations

import logging

import pytest
from fakevk import FakeVK
from vkbottle import VKAPIError

from bot.errors import backoff_delay_s
from bot.vk import RetryingAPI, send


@pytest.mark.parametrize("code", [6, 9, 10, 29])
async def test_transient_errors_are_retried(fake: FakeVK, code: int) -> None:
    api = RetryingAPI("tok", api_url=fake.api_url, retries=3, backoff_s=0.001)
    fake.fail_next["messages.send"] = [code, code]
    try:
        message_id = await send(api, 5, "hi", random_id=42)
    finally:
        await api.http_client.close()
    assert len(fake.calls_of("messages.send")) == 3
    assert fake.messages[message_id].text == "hi"


async def test_a_retried_send_after_error_10_posts_once(fake: FakeVK) -> None:
    api = RetryingAPI("tok", api_url=fake.api_url, retries=3, backoff_s=0.001)
    fake.fail_next["messages.send"] = [10]  # VK posted it, but the answer was lost
    try:
        first = await send(api, 5, "result", random_id=7)
    finally:
        await api.http_client.close()
    assert len(fake.calls_of("messages.send")) == 2
    assert list(fake.messages) == [first]


async def test_retries_give_up(fake: FakeVK) -> None:
    api = RetryingAPI("tok", api_url=fake.api_url, retries=2, backoff_s=0.001)
    fake.fail_methods["messages.send"] = 6
    try:
        with pytest.raises(VKAPIError[6]):
            await send(api, 5, "hi", random_id=1)
    finally:
        await api.http_client.close()
    assert len(fake.calls_of("messages.send")) == 3


@pytest.mark.parametrize(
    ("code", "words"), [(901, "not allowed"), (917, "no access"), (15, "rights")]
)
async def test_access_errors_are_logged_for_the_operator_not_retried(
    fake: FakeVK, caplog: pytest.LogCaptureFixture, code: int, words: str
) -> None:
    caplog.set_level(logging.INFO, logger="smask.vk")
    api = RetryingAPI("tok-secret", api_url=fake.api_url, retries=3, backoff_s=0.001)
    fake.fail_methods["messages.send"] = code
    try:
        with pytest.raises(VKAPIError):
            await send(api, 5, "hi", random_id=1)
    finally:
        await api.http_client.close()
    assert len(fake.calls_of("messages.send")) == 1
    assert f"VK error {code}" in caplog.text and words in caplog.text
    assert "tok-secret" not in caplog.text


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay_s(a, 0.5) for a in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay_s(20, 0.5) == 30.0
