"""Is the service working? Live workers and the queue, for ``smask health`` and ``/status``.

Each worker process beats into the job store (``bot.pulse.Pulse``: a SQLite row or a Redis key
that expires after three missed beats), so liveness is read from the same place on every host:
the bot container, a worker container or an operator's shell. The record carries the last beat
of the worker's job threads (``job_beat_at``): a worker whose job threads stopped beating is
counted as wedged, not alive, however fresh its sweeper keeps the record.
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
    workers_wedged: int = 0  # processes that beat, but whose job threads have gone quiet
    quarantined: int = 0  # unreadable job rows set aside (see bot.jobs.QUARANTINED)

    @property
    def healthy(self) -> bool:
        if self.workers_alive < 1:
            return False
        return not (self.max_queued_s and self.oldest_queued_s > self.max_queued_s)

    def lines(self) -> list[str]:
        return [
            f"healthy: {'yes' if self.healthy else 'no'}",
            f"workers alive: {self.workers_alive}",
            f"workers wedged: {self.workers_wedged}",
            f"queued: {self.queued}",
            f"running: {self.running}",
            f"oldest queued: {self.oldest_queued_s:.0f} s",
            f"quarantined: {self.quarantined}",
        ]


# A starting worker imports torch and loads its model before its job threads first ask for
# work: minutes at most even on a loaded two-core host.
STARTUP_GRACE_S = 300.0


def job_threads_fresh(info: dict[str, Any], now: float) -> bool:
    """Whether a worker's job threads beat within its bound.

    Records of workers older than job beats carry no bound and count as they always did:
    alive. A worker whose threads have not beaten yet is starting, and alive for
    ``STARTUP_GRACE_S`` from its start.
    """
    beat_at, bound = info.get("job_beat_at"), info.get("stale_after_s")
    if not isinstance(bound, int | float):
        return True
    if beat_at is None:
        started = info.get("started_at")
        return not isinstance(started, int | float) or now - started <= STARTUP_GRACE_S
    if not isinstance(beat_at, int | float):
        return True
    return now - beat_at <= bound


def check(store: JobStore, *, max_queued_s: float = 0.0, now: float | None = None) -> Health:
    now = time.time() if now is None else now
    active = store.active()
    queued = [j for j in active if j.state == "queued"]
    oldest = max((now - j.created_at for j in queued), default=0.0)
    live = store.live_workers()
    fresh = sum(job_threads_fresh(info, now) for info in live)
    return Health(
        workers_alive=fresh,
        workers_wedged=len(live) - fresh,
        quarantined=store.quarantined_count(),
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
