"""A throwaway redis-server for the Redis-backend tests (or SMASK_TEST_REDIS_URL when set).

Import the fixtures into a test module: ``from fakevk.redis_server import redis_server, redis_url``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, timeout_s: float = 10.0) -> None:
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling a condition until ready, bounded by the deadline


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis server: SMASK_TEST_REDIS_URL, or one started here on a free port."""
    url = os.environ.get("SMASK_TEST_REDIS_URL", "").strip()
    if url:
        _wait_ready(url)
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH and SMASK_TEST_REDIS_URL is not set")
    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_ready(url)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) is not None


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's server with an empty database for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    return redis_server
