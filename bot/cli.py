"""``smask bot`` (the whole service on one machine) and ``smask worker`` (extra workers)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import mask_url

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("smask")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_commands(subparsers: Any) -> None:
    """Register ``bot`` and ``worker`` on an argparse sub-parser set."""
    p_bot = subparsers.add_parser(
        "bot", help="run the VK bot with its queue and an embedded worker process"
    )
    p_bot.add_argument(
        "--workers", type=int, default=None, help="threads of the embedded worker (SMASK_WORKERS)"
    )
    p_bot.add_argument(
        "--no-worker",
        action="store_true",
        help="run only the bot; workers run elsewhere (`smask worker` against Redis)",
    )
    p_bot.set_defaults(handler=cmd_bot)
    p_worker = subparsers.add_parser("worker", help="run a worker that takes jobs from the queue")
    p_worker.add_argument("--workers", type=int, default=None, help="threads (SMASK_WORKERS)")
    p_worker.set_defaults(handler=cmd_worker)
    p_web = subparsers.add_parser(
        "web", help="serve the learner's page and the VK Mini App alone (SMASK_WEB_PORT)"
    )
    p_web.set_defaults(handler=cmd_web)
    from bot.health import add_command as add_health

    add_health(subparsers)


def _setup_logging(settings: Settings | None = None) -> None:
    """Log to stderr through the redacting filter (no token, password or URL secret printed)."""
    import vkbottle  # noqa: F401 - attaches its own log handler at import: install() sees it

    from bot import logsafe

    level = os.environ.get("SMASK_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    logsafe.install(settings.secrets() if settings is not None else ())


def startup_line(settings: Settings) -> str:
    """The settings as logged at start: secrets hidden, the Redis password masked."""
    return (
        f"starting bot for community {settings.group_id} ({settings!r}, "
        f"redis_url={mask_url(settings.redis_url)!r})"
    )


def cmd_bot(args: argparse.Namespace) -> int:
    """The bot, and unless ``--no-worker`` a supervised worker; 1 when the worker kept dying."""
    from bot.app import create_bot
    from bot.settings import Settings
    from bot.supervise import WorkerSupervisor

    _setup_logging()
    settings = Settings.from_env()
    _setup_logging(settings)
    log.info("%s", startup_line(settings))
    # vkbottle keeps the long-poll position in ./.vkbottle/: keep it with our other state, so
    # a restarted bot resumes where it stopped.
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(settings.state_dir)
    supervisor: WorkerSupervisor | None = None
    if not args.no_worker:
        cmd = [sys.executable, "-m", "bot", "worker"]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        # Resolved paths, not the caller's: relative ones would now resolve against state_dir,
        # and the worker would use another job table and queue than the bot.
        env = {
            **os.environ,
            "SMASK_STATE_DIR": str(settings.state_dir),
            "SMASK_QUEUE_PATH": str(settings.queue_path),
            "SMASK_JOBS_PATH": str(settings.jobs_path),
            "SMASK_WORK_DIR": str(settings.work_dir),
        }
        supervisor = WorkerSupervisor(
            cmd,
            env,
            max_deaths=settings.worker_max_deaths,
            window_s=settings.worker_death_window_s,
            backoff_s=settings.worker_restart_backoff_s,
            stop_timeout_s=settings.worker_stop_timeout_s,
        )
    try:
        asyncio.run(_serve(create_bot(settings), settings, supervisor))
    finally:
        if supervisor is not None:
            supervisor.stop()  # SIGINT: huey finishes the running job, then exits
    if supervisor is not None and supervisor.gave_up:
        log.critical("bot stopped because its worker kept dying; exit code 1")
        return 1
    return 0


async def _serve(bot: Any, settings: Settings, supervisor: Any) -> None:
    """Serve until SIGINT/SIGTERM, or until the supervisor gives up on the worker."""
    from bot.app import serve
    from bot.callback import serve_callback

    stop = asyncio.Event()
    if supervisor is not None:
        loop = asyncio.get_running_loop()
        supervisor.on_give_up = lambda: loop.call_soon_threadsafe(stop.set)
        supervisor.start()
    web = await _start_web(settings)
    try:
        if settings.callback_port:
            await serve_callback(bot, settings, stop)
        else:
            await serve(bot, stop)
    finally:
        if web is not None:
            await web.cleanup()


async def _start_web(settings: Settings) -> Any:
    """The learner's page beside the bot when SMASK_WEB_PORT is set (bot/web/, issue 25)."""
    from bot.history.store import TakeStore

    store = TakeStore.from_env(settings.state_dir)
    if not store.config.web_port:
        return None
    from bot.web.server import start_web

    return await start_web(store, store.config.web_host, store.config.web_port)


def cmd_web(args: argparse.Namespace) -> int:
    """The page alone, reading the same history folder (SMASK_HISTORY_DIR) as the workers."""
    import signal

    from bot.history.store import TakeStore
    from bot.web.server import serve_web

    _setup_logging()
    state = Path(os.environ.get("SMASK_STATE_DIR", "").strip() or "var").resolve()
    store = TakeStore.from_env(state)
    port = store.config.web_port or 8080

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_web(store, store.config.web_host, port, stop)

    asyncio.run(run())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from bot.worker_main import run_worker

    _setup_logging()
    settings = Settings.from_env()
    _setup_logging(settings)
    run_worker(settings, workers=args.workers)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))
