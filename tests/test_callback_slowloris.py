"""Half-sent requests to the Callback port (issue 26, defect 6): no secret is needed to open
a connection, so thousands of them must neither starve VK's real events nor fill the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from fakevk import FakeVK
from fakevk.harness import make_settings, settings_env

from bot.app import create_bot
from bot.callback import callback_server

SECRET = "s3cret"
PATH = "/vk/callback"
HALF_HEADER = b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
HALF_BODY = (
    b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"type": '
)
ATTACK = 3000  # half-sent requests, as in the review
SERVICE_FD_LIMIT = 1024  # a common default soft limit (systemd services, many hosts)


@pytest.fixture
def enough_fds() -> Iterator[None]:
    """The attacker's sockets live in this process: raise its soft limit for them (within the
    hard one) and put it back afterwards; skip where the hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = ATTACK + 512
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the open-file hard limit ({hard}) is below the {need} this test needs")
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def half_send(port: int, data: bytes) -> Conn | None:
    """One connection that sends ``data`` and then nothing; None if it could not connect."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
    except (OSError, TimeoutError):
        return None
    writer.write(data)
    return reader, writer


async def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` after ``timeout_s``."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _limit_fds() -> None:
    resource.setrlimit(
        resource.RLIMIT_NOFILE,
        (SERVICE_FD_LIMIT, resource.getrlimit(resource.RLIMIT_NOFILE)[1]),
    )


async def test_half_sent_requests_cannot_starve_a_real_event(
    fake: FakeVK, tmp_path: Path, enough_fds: None
) -> None:
    """The whole service (``python -m bot bot``) on the Callback API with a 1024-file limit;
    3000 half-sent requests (half stop inside the headers, half inside the body) arrive while
    a real event is posted. The event is acknowledged within 5 s and answered within 10 s,
    and the attack leaves a few log lines, not a traceback per connection."""
    port = free_port()
    settings = make_settings(tmp_path, fake)
    env = settings_env(settings) | {
        "VK_CALLBACK_PORT": str(port),
        "VK_CALLBACK_HOST": "127.0.0.1",
        "VK_CALLBACK_SECRET": SECRET,
        "VK_CALLBACK_READ_TIMEOUT_S": "5",
        "VK_CALLBACK_MAX_CONNECTIONS": "256",
    }
    log_path = tmp_path / "service.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "bot", "--no-worker"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
            preexec_fn=_limit_fds,
        )
    held: list[Conn] = []
    try:
        await wait_until(
            lambda: b"bot is listening" in log_path.read_bytes() or proc.poll() is not None,
            60,
            "the service to listen",
        )
        assert proc.poll() is None, log_path.read_text(errors="replace")[-2000:]
        started = log_path.stat().st_size

        async def attack(count: int) -> None:
            for first in range(0, count, 100):
                batch = [
                    half_send(port, HALF_HEADER if i % 2 else HALF_BODY)
                    for i in range(first, min(first + 100, count))
                ]
                held.extend(w for w in await asyncio.gather(*batch) if w is not None)

        await attack(ATTACK // 2)
        rest = asyncio.create_task(attack(ATTACK - ATTACK // 2))  # still coming meanwhile
        message = await fake.push_message(peer_id=40, message_id=3, text="/help")
        begun = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.post(
                    f"http://127.0.0.1:{port}{PATH}", json={**message, "secret": SECRET}
                ) as r,
            ):
                assert (r.status, await r.text()) == (200, "ok")
        except TimeoutError:
            pytest.fail("the real event was not acknowledged within 5 s")
        await fake.wait_for(lambda: bool(fake.replies_to(40, 3)), timeout_s=10)
        answered_s = time.monotonic() - begun
        await rest
    finally:
        for _, writer in held:
            writer.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(proc.wait, 60)
    assert answered_s < 10
    assert len(held) > ATTACK * 0.9  # the attack did happen: the connections were accepted
    tail = log_path.read_bytes()[started:]
    assert b"Traceback" not in tail
    assert len(tail) < 20_000, tail[:2000]
    assert b"callback: closed" in tail  # one summary line says what the guard did


async def closed_within(conn: Conn | None, timeout_s: float) -> bool:
    """True when the server closed this half-sent connection within ``timeout_s``."""
    assert conn is not None
    try:
        await asyncio.wait_for(conn[0].read(), timeout_s)  # returns at end of stream only
        return True
    except ConnectionError:  # aborted: a reset rather than a FIN
        return True
    except TimeoutError:
        return False


@contextlib.asynccontextmanager
async def guarded_server(fake: FakeVK, tmp_path: Path, **overrides: object) -> AsyncIterator[int]:
    settings = replace(
        make_settings(tmp_path, fake), callback_secret=SECRET, callback_host="127.0.0.1"
    )
    settings = replace(settings, **overrides)
    bot = create_bot(settings)
    try:
        async with callback_server(bot, settings) as port:
            yield port
    finally:
        await bot.api.http_client.close()


async def test_a_request_that_does_not_arrive_in_time_is_closed_quietly(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Silent, half-headed and half-bodied connections, and a keep-alive connection after its
    answer, are each closed once the read timeout passes; one summary line, no traceback."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    async with guarded_server(fake, tmp_path, callback_read_timeout_s=0.5) as port:
        slow = [await half_send(port, data) for data in (b"", HALF_HEADER, HALF_BODY)]
        assert all(slow)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        confirm = b'{"type": "confirmation", "group_id": 77, "secret": "s3cret"}'
        writer.write(
            b"POST "
            + PATH.encode()
            + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(confirm)).encode()
            + b"\r\n\r\n"
            + confirm
        )
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 200")  # a whole request is answered at once
        closed = await asyncio.gather(*(closed_within(c, 5) for c in slow))
        assert closed == [True, True, True]
        assert await closed_within((reader, writer), 5)  # idle after its answer: closed too
        for conn in [*slow, (reader, writer)]:
            assert conn is not None
            conn[1].close()
    records = [r for r in caplog.records if r.name.startswith(("smask", "aiohttp", "asyncio"))]
    assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    (summary,) = [r.getMessage() for r in records if "callback: closed" in r.getMessage()]
    assert "closed 4 connections that sent no whole request" in summary


async def test_past_the_cap_the_oldest_half_sent_connection_makes_room(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for 4 connections, 10 half-sent ones leave 4 open (the newest), and a real
    event still gets through and is answered."""
    monkeypatch.chdir(tmp_path)
    async with guarded_server(
        fake, tmp_path, callback_read_timeout_s=60.0, callback_max_connections=4
    ) as port:
        conns = [await half_send(port, HALF_HEADER) for _ in range(10)]
        closed = await asyncio.gather(*(closed_within(c, 2) for c in conns))
        assert closed == [True] * 6 + [False] * 4
        message = await fake.push_message(peer_id=41, message_id=5, text="/help")
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.post(f"http://127.0.0.1:{port}{PATH}", json={**message, "secret": SECRET}) as r,
        ):
            assert await r.text() == "ok"
        await fake.wait_for(lambda: bool(fake.replies_to(41, 5)), timeout_s=10)
        for conn in conns:
            if conn is not None:
                conn[1].close()


async def test_a_request_that_arrived_whole_is_not_crowded_out_before_its_handler_runs() -> None:
    """A guard with room for two connections, over a protocol whose handler never gets to
    run (a loop busy accepting a flood): the request that arrived whole by its
    Content-Length stays open while two newcomers crowd out the half-sent one."""
    from bot.callback_guard import ConnectionGuard

    class Stalled(asyncio.Protocol):  # aiohttp's place: it reads, and never answers
        pass

    guard = ConnectionGuard(read_timeout_s=30.0, max_connections=2)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(guard.protocol_factory(Stalled), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = b'{"type": "confirmation"}'
    whole = (b"POST /vk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip
    streams = []
    try:
        for n, data in enumerate((whole, b"POST /vk HTTP/1.1\r\nHost: x\r\n",
                                  b"POST /vk HTTP/1.1\r\n"), start=1):  # fmt: skip
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            streams.append((reader, writer))
            await wait_until(lambda n=n: len(guard.open) + guard.crowded_out >= n, 5,
                             "the guard to see the connection")  # fmt: skip
        assert guard.crowded_out == 1
        assert await asyncio.wait_for(streams[1][0].read(), 5) == b""  # the half-sent one: closed
        assert len(guard.open) == 2  # the whole request and the newest: the whole one stayed
    finally:
        for _, writer in streams:
            writer.close()
        server.close()
        await server.wait_closed()
