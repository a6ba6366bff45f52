"""The queue engine: huey over SQLite (embedded default) or Redis (many worker hosts).

huey is only the doorbell that tells a worker which job to try; whether the job still needs
doing is decided by bot.jobs (claim with a lease). So a message huey loses (a SIGKILLed
consumer) is re-sent by the sweeper, and a duplicate message is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from bot.settings import Settings

TASK_NAME = "smask.process_job"


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey at ``SMASK_QUEUE_PATH`` by default; RedisHuey when ``SMASK_REDIS_URL`` is set.

    Results are not stored: the job table is where outcomes live.
    """
    if settings.redis_url:
        return RedisHuey("smask", url=settings.redis_url, results=False, utc=True)
    settings.queue_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("smask", filename=str(settings.queue_path), results=False, utc=True)


class JobQueue:
    """Enqueue job ids; in worker processes, run ``handler(job_id)`` for each one.

    Both the bot (which only enqueues) and workers build one, so the task is registered under
    the same name everywhere.
    """

    def __init__(
        self,
        huey: Huey,
        handler: Callable[[str], None] | None = None,
        *,
        on_poll: Callable[[], None] | None = None,
    ) -> None:
        """``on_poll`` runs in a consumer thread each time it asks the queue for work, idle
        or not: the worker's heartbeat comes from there (bot.pulse), so threads that stop
        asking stop beating."""
        self.huey = huey
        self._handler = handler
        if on_poll is not None:
            dequeue = huey.dequeue

            def dequeue_after_beat() -> Any:
                on_poll()
                return dequeue()

            huey.dequeue = dequeue_after_beat

        def process_job(job_id: str) -> None:
            if self._handler is None:
                raise RuntimeError("this process only enqueues jobs; start a worker")
            self._handler(job_id)

        self._task: Any = huey.task(name=TASK_NAME, retries=0)(process_job)

    def enqueue(self, job_id: str, *, delay_s: float = 0.0) -> None:
        """Write the message synchronously (call through asyncio.to_thread from async code).

        ``delay_s`` > 0 schedules it (huey's scheduler releases it), for retries with back-off.
        """
        if delay_s > 0:
            self._task.schedule(args=(job_id,), delay=delay_s)
        else:
            self._task(job_id)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def flush(self) -> None:
        """Drop every queued message (tests and operators resetting a dev queue)."""
        self.huey.flush()
