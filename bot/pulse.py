"""The worker process's heartbeat, fed by its job threads.

A heartbeat written by the sweeper thread alone says only that the process is alive: a worker
whose every job thread is wedged would go on reporting healthy while nothing is processed. So
the record carries ``job_beat_at``, the last time a job thread showed it was alive (asking the
queue for work, running a job's event loop, finishing a job), and ``smask health`` counts a
worker alive only while that is fresh (``bot.health``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from bot.logsafe import describe_error

if TYPE_CHECKING:
    from bot.jobs import JobStore

log = logging.getLogger("smask.worker")


def stale_after_s(every_s: float) -> float:
    """Three missed beats and 5 s of slack: the record expires, and job beats go stale."""
    return 3 * every_s + 5.0


class Pulse:
    """One per worker process; thread-safe.

    Args:
        store: where the heartbeat is written (``store.beat``).
        me: this process in heartbeats (``host:pid``).
        info: what the record says about the process (host, pid, threads, started_at).
        every_s: at most one store write per this many seconds from the job threads.
    """

    def __init__(self, store: JobStore, me: str, info: dict[str, Any], *, every_s: float) -> None:
        self.store = store
        self.me = me
        self.info = dict(info)
        self.every_s = every_s
        self.stale_after_s = stale_after_s(every_s)
        self._lock = threading.Lock()
        # None until a job thread first asks for work: loading torch and the model comes
        # first, and on a busy host that takes longer than a beat's bound (bot.health gives a
        # worker STARTUP_GRACE_S from its start to show its job threads).
        self._job_beat_at: float | None = None
        self._written_at = float("-inf")

    @property
    def job_beat_at(self) -> float | None:
        with self._lock:
            return self._job_beat_at

    def job_thread_alive(self, *, now: float | None = None) -> None:
        """Called from job threads, as often as they like: a store write only when one is due.

        A failed write is logged and left to the next beat: a job must not fail because the
        heartbeat could not be written.
        """
        with self._lock:
            self._job_beat_at = time.time() if now is None else now
            due = time.monotonic() - self._written_at >= self.every_s
            if due:
                self._written_at = time.monotonic()
        if due:
            self._write()

    def publish(self) -> None:
        """The sweeper's beat: the process is alive; the job threads' last beat is carried
        unchanged, so a wedged worker shows as such instead of vanishing."""
        with self._lock:
            self._written_at = time.monotonic()
        self._write()

    def _write(self) -> None:
        record = {
            **self.info,
            "beat_at": time.time(),
            "job_beat_at": self.job_beat_at,
            "stale_after_s": self.stale_after_s,
        }
        try:
            self.store.beat(self.me, record, self.stale_after_s)
        except Exception as exc:
            log.warning("could not write this worker's heartbeat: %s", describe_error(exc))
