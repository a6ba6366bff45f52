"""Is the service working? Live workers and the queue, for ``smask health`` and ``/status``.

Each worker process beats into the job store (``Sweeper.beat``: a SQLite row or a Redis key
that expires after three missed beats), so liveness is read from the same place on every host:
the bot container, a worker container or an operator's shell.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.jobs import JobStore


@dataclass(frozen=True)
class Health:
    """What ``smask health`` prints (as ``key: value`` lines, or JSON with ``--json``)."""

    workers_alive: int
    queued: int
    running: int
    oldest_queued_s: float  # seconds the longest-waiting queued job has waited; 0 when none
    max_queued_s: float = 0.0  # 0: a long wait alone does not make the service unhealthy

    @property
    def healthy(self) -> bool:
        if self.workers_alive < 1:
            return False
        return not (self.max_queued_s and self.oldest_queued_s > self.max_queued_s)

    def lines(self) -> list[str]:
        return [
            f"healthy: {'yes' if self.healthy else 'no'}",
            f"workers alive: {self.workers_alive}",
            f"queued: {self.queued}",
            f"running: {self.running}",
            f"oldest queued: {self.oldest_queued_s:.0f} s",
        ]


def check(store: JobStore, *, max_queued_s: float = 0.0, now: float | None = None) -> Health:
    now = time.time() if now is None else now
    active = store.active()
    queued = [j for j in active if j.state == "queued"]
    oldest = max((now - j.created_at for j in queued), default=0.0)
    return Health(
        workers_alive=len(store.live_workers()),
        queued=len(queued),
        running=len(active) - len(queued),
        oldest_queued_s=max(0.0, oldest),
        max_queued_s=max_queued_s,
    )


def add_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "health",
        help="exit 0 when a worker is alive (and the queue moves), 1 otherwise; for "
        "Docker's HEALTHCHECK and monitoring",
    )
    p.add_argument(
        "--max-queued-s",
        type=float,
        default=None,
        help="also unhealthy when a job has waited longer than this (default: "
        "$SMASK_HEALTH_MAX_QUEUED_S, else off)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    p.set_defaults(handler=cmd_health)


def cmd_health(args: argparse.Namespace) -> int:
    import os

    from bot.jobs import make_store
    from bot.logsafe import describe_error
    from bot.settings import Settings

    # The check reads the job store only: it needs no VK credentials (a container has them,
    # an operator's shell may not).
    env = dict(os.environ)
    for name, placeholder in (("VK_TOKEN", "unused-by-health"), ("VK_GROUP_ID", "0")):
        if not env.get(name, "").strip():
            env[name] = placeholder
    try:
        settings = Settings.from_env(env)
        # The image's HEALTHCHECK is a fixed `smask health`: the environment sets the limit.
        max_queued_s = (
            args.max_queued_s if args.max_queued_s is not None else settings.health_max_queued_s
        )
        store = make_store(settings)
        try:
            health = check(store, max_queued_s=max_queued_s)
        finally:
            store.close()
    except Exception as exc:  # an unreachable Redis or unreadable file is "not healthy"
        print(f"healthy: no\nerror: {describe_error(exc)}")
        return 1
    if args.json:
        print(json.dumps({**asdict(health), "healthy": health.healthy}))
    else:
        print("\n".join(health.lines()))
    sys.stdout.flush()
    return 0 if health.healthy else 1
