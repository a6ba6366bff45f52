"""A worker process: the huey consumer, the sweeper, and one loaded pitch model."""

from __future__ import annotations

import logging
import os
import socket
import time

from bot.jobs import make_store, sweep
from bot.logsafe import describe_error
from bot.pulse import Pulse
from bot.queue import JobQueue, make_huey
from bot.settings import Settings
from bot.worker import Sweeper, Worker, process_id

log = logging.getLogger("smask.worker")


def run_worker(settings: Settings, *, workers: int | None = None) -> None:
    """Run until SIGINT (finish the current job) or SIGTERM; SIGKILL loses nothing either."""
    store = make_store(settings)
    huey = make_huey(settings)
    holder: dict[str, Worker] = {}
    n = workers or settings.workers
    me = process_id()
    info = {
        "worker": me,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threads": n,
        "started_at": time.time(),
    }
    pulse = Pulse(store, me, info, every_s=max(settings.sweep_interval_s, 1.0))
    queue = JobQueue(
        huey,
        handler=lambda job_id: holder["worker"].process(job_id),
        on_poll=pulse.job_thread_alive,
    )
    worker = Worker(
        settings,
        store,
        queue.enqueue,
        enqueue_later=lambda job_id, delay_s: queue.enqueue(job_id, delay_s=delay_s),
        pulse=pulse,
    )
    holder["worker"] = worker
    # Import the pipeline before taking jobs: a first import inside a job runs on the job's
    # event loop and stalls it, lease heartbeat included, for as long as the import takes.
    import core.pipeline

    core.pipeline.preload()  # and what correct_file imports lazily (torch, the shifter...)

    try:
        worker.tracker()  # load the model before taking jobs, once per process
    except Exception as exc:  # the pipeline may still load its own; log why we could not
        log.warning("could not preload the pitch model: %s", describe_error(exc))
    try:  # a store that fails now (Redis restarting) is the sweeper's to retry, not fatal
        requeued = sweep(store, queue.enqueue, settings.stale_queued_s)
    except Exception as exc:
        log.error("start-up sweep failed (%s); the sweeper will try again", describe_error(exc))
    else:
        if requeued:
            log.warning("re-enqueued %d job(s) left by a dead worker: %s", len(requeued), requeued)
    sweeper = Sweeper(
        store,
        queue.enqueue,
        interval_s=settings.sweep_interval_s,
        stale_queued_s=settings.stale_queued_s,
        work_dir=settings.work_dir,
        retention_s=settings.job_retention_s,
        threads=n,
        pulse=pulse,
        tell_quarantined=worker.tell_quarantined,
        history=worker.history,
    )
    sweeper.beat()  # alive before the first job, for `smask health`
    sweeper.start()
    consumer = huey.create_consumer(
        workers=n,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=0.5,
    )
    log.info("worker ready: %d thread(s), queue %s", n, type(huey).__name__)
    try:
        consumer.run()
    finally:
        sweeper.stop()
        store.close()
