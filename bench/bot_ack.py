"""How fast the bot acknowledges clips: messages/second and message -> "queued" reply latency.

The bot runs as its own process (``python -m bot bot --no-worker``: long poll, handlers, the
durable job table and the huey enqueue, all real) against the fake VK server on loopback,
which runs in this process and timestamps both ends: when an event is handed to long poll and
when the bot's ``messages.send`` with the acknowledgement arrives. No worker runs, so only the
acknowledgement path is measured.

* latency: ``--bursts`` rounds in which ``--users`` users each send one clip at the same
  moment; p50/p95/max over all messages (target: p95 < 300 ms with 20 users).
* throughput: ``--flood`` clips pushed at once; acknowledged messages per second.

Run: ``python -m bench.bot_ack [--users 20] [--bursts 10] [--flood 400] [--backend sqlite|redis]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results_io import publish
from bot.jobs import random_id_for
from tests.fakevk import FakeVK, doc_attachment
from tests.fakevk.harness import make_settings, settings_env


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--backend redis needs redis-server on PATH")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


async def _run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    fake = await FakeVK(group_id=77).start()
    redis_proc = None
    redis_url = None
    if args.backend == "redis":
        redis_proc, redis_url = _start_redis(workdir)
    total = args.users * args.bursts + args.flood
    settings = make_settings(
        workdir,
        fake,
        redis_url=redis_url,
        max_waiting_per_user=total,
        max_clips_per_hour=total,
        max_queue_length=total + 1,
    )
    url = fake.add_file("clip.mp4", b"never downloaded: no worker runs")
    polls = fake.lp_requests
    log = open(workdir / "bot.log", "wb")  # noqa: SIM115
    env = settings_env(settings)
    env["SMASK_LOG_LEVEL"] = "WARNING"
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "bot", "--no-worker"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    pushed: dict[tuple[int, int], float] = {}
    try:
        await fake.wait_for(lambda: fake.lp_requests > polls, timeout_s=60)

        def acked(peer: int, msg: int) -> float | None:
            rid = random_id_for(f"{peer}_{msg}", "ack")
            for m in fake.replies_to(peer, msg):
                if m.random_id == rid:
                    return m.received_at
            return None

        async def burst(pairs: list[tuple[int, int]]) -> None:
            for peer, msg in pairs:
                pushed[(peer, msg)] = time.monotonic()
                await fake.push_message(
                    peer_id=peer, message_id=msg, attachments=[doc_attachment(url, size=100)]
                )
            await fake.wait_for(lambda: all(acked(p, m) for p, m in pairs), timeout_s=120)

        # warm-up: the first message pays for imports and connections
        await burst([(10_000, 1)])
        latencies_ms: list[float] = []
        for b in range(args.bursts):
            pairs = [(1 + u, 100 + b) for u in range(args.users)]
            await burst(pairs)
            latencies_ms += [(acked(p, m) or 0.0) * 1000 - pushed[(p, m)] * 1000 for p, m in pairs]
        flood = [(1000 + i % 50, 1000 + i) for i in range(args.flood)]
        started = time.monotonic()
        await burst(flood)
        finished = max(acked(p, m) or 0.0 for p, m in flood)
        throughput = len(flood) / (finished - started)
    finally:
        bot.send_signal(2)
        bot.wait(timeout=60)
        log.close()
        await fake.stop()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    return {
        "p50_ms": statistics.median(latencies_ms),
        "p95_ms": _percentile(latencies_ms, 95),
        "max_ms": max(latencies_ms),
        "throughput": throughput,
        "n": float(len(latencies_ms)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--flood", type=int, default=400)
    parser.add_argument("--backend", choices=("sqlite", "redis", "both"), default="both")
    args = parser.parse_args(argv)
    backends = ["sqlite", "redis"] if args.backend == "both" else [args.backend]
    if "redis" in backends and shutil.which("redis-server") is None:
        backends.remove("redis")
    rows = []
    for backend in backends:
        args.backend = backend
        with tempfile.TemporaryDirectory(prefix="bot_ack_") as tmp:
            r = asyncio.run(_run(args, Path(tmp)))
        rows.append(
            f"| {backend} | {int(r['n'])} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['max_ms']:.0f} | {r['throughput']:.0f} |"
        )
    cores = os.cpu_count()
    lines = [
        "# bot_ack",
        "",
        f"Bot process (`python -m bot bot --no-worker`) against the fake VK on loopback; "
        f"{args.users} users sending one clip each at the same moment, {args.bursts} bursts "
        f'(latency: long-poll hand-off -> `messages.send` of the "queued" reply received), then '
        f"{args.flood} clips at once (throughput). Host: {platform.machine()}, "
        f"Python {platform.python_version()}, {cores} CPU cores shared with other work. "
        "Target: p95 < 300 ms.",
        "",
        "| queue backend | messages | p50 ms | p95 ms | max ms | acks / s (flood) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Command: `python -m bench.bot_ack`",
        "",
    ]
    publish("bot_ack", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
