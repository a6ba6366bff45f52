"""Keeping the embedded worker alive: restart it when it dies, give up when it keeps dying.

``smask bot`` on one machine runs the worker as a child process. A child killed by the OOM
killer or a codec's segfault must not leave the bot answering "queued" for ever while nothing
is processed: the supervisor logs the death (exit code or signal), restarts the child after a
back-off that doubles with each recent death, and when the child died ``max_deaths`` times
within ``window_s`` it stops restarting and tells the bot to exit non-zero, so systemd or
Docker restarts the whole service (and an operator sees it).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from bot.logsafe import describe_error

log = logging.getLogger("smask.supervisor")

MAX_BACKOFF_S = 30.0
DEFAULT_STOP_TIMEOUT_S = 840.0  # Settings.worker_stop_timeout_s at the defaults


def describe_exit(returncode: int) -> str:
    """``"killed by SIGKILL"`` or ``"exit code 3"``: how a child ended, in words."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class WorkerSupervisor(threading.Thread):
    """Runs ``cmd`` as a child, restarting it with back-off until ``stop()``.

    Args:
        cmd: the child's command line.
        env: its environment.
        max_deaths: deaths within ``window_s`` after which the supervisor gives up.
        window_s: how far back deaths count.
        backoff_s: delay before the first restart; doubles per recent death, capped.
        on_give_up: called (from this thread) when the supervisor gives up.
        output: where the child's stdout and stderr go (default: this process's).
        stop_timeout_s: how long ``stop()`` lets the child finish its running job before
            SIGKILL; at least the longest job (Settings.worker_stop_timeout_s), since a job
            cut short is retried from the start.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        env: Mapping[str, str],
        *,
        max_deaths: int = 5,
        window_s: float = 300.0,
        backoff_s: float = 1.0,
        on_give_up: Callable[[], None] = lambda: None,
        output: IO[bytes] | None = None,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
    ) -> None:
        super().__init__(name="smask-supervisor", daemon=True)
        self.cmd = list(cmd)
        self.env = dict(env)
        self.max_deaths = max_deaths
        self.window_s = window_s
        self.backoff_s = backoff_s
        self.on_give_up = on_give_up
        self.output = output
        self.stop_timeout_s = stop_timeout_s
        self.gave_up = False
        self.restarts = 0
        self._deaths: deque[float] = deque()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._child.pid if self._child is not None else None

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            # Its own session: a Ctrl-C in the terminal reaches the bot only, which then stops
            # the child itself; otherwise the child's exit would race the bot's shutdown and be
            # taken for a death.
            self._child = subprocess.Popen(
                self.cmd,
                env=self.env,
                start_new_session=True,
                stdout=self.output,
                stderr=subprocess.STDOUT if self.output is not None else None,
            )
            return self._child

    def run(self) -> None:
        started = 0
        while True:
            try:
                child = self._spawn()
            except OSError as exc:  # ENOMEM/EAGAIN right after an OOM kill: a death too
                what, cause = "could not be started", describe_error(exc)
            else:
                if child is None:  # stopping
                    return
                if started:
                    self.restarts += 1
                log.info("embedded worker %s (pid %d)", "restarted" if started else "started",
                         child.pid)  # fmt: skip
                started += 1
                code = child.wait()
                if self._stopping.is_set():
                    return
                what, cause = f"(pid {child.pid}) died", describe_exit(code)
            now = time.monotonic()
            self._deaths.append(now)
            while self._deaths and self._deaths[0] < now - self.window_s:
                self._deaths.popleft()
            recent = len(self._deaths)
            if recent >= self.max_deaths:
                log.critical(
                    "embedded worker %s: %s; %d deaths within %.0f s, giving up: "
                    "the bot exits so that its service manager restarts it",
                    what,
                    cause,
                    recent,
                    self.window_s,
                )
                self.gave_up = True
                self.on_give_up()
                return
            delay_s = min(self.backoff_s * 2 ** (recent - 1), MAX_BACKOFF_S)
            log.error(
                "embedded worker %s: %s; restarting in %.1f s (%d of %d deaths "
                "allowed within %.0f s)",
                what,
                cause,
                delay_s,
                recent,
                self.max_deaths - 1,
                self.window_s,
            )
            if self._stopping.wait(delay_s):  # back-off; stop() cuts it short
                return

    def stop(self, timeout_s: float | None = None) -> None:
        """SIGINT the child (huey finishes the running job), SIGKILL it after ``timeout_s``
        (default ``stop_timeout_s``); a SIGKILL is logged, with what it costs."""
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            self._stopping.set()
            child = self._child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.error(
                "embedded worker (pid %d) still busy %.0f s after SIGINT; SIGKILL: its running "
                "job goes back to the queue when its lease expires (SMASK_WORKER_STOP_TIMEOUT_S)",
                child.pid,
                timeout_s,
            )
            child.kill()
            child.wait()
