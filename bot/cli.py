"""``smask bot`` (the whole service on one machine) and ``smask worker`` (extra workers)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
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


def _setup_logging() -> None:
    level = os.environ.get("SMASK_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


def startup_line(settings: Settings) -> str:
    """The settings as logged at start: secrets hidden, the Redis password masked."""
    return (
        f"starting bot for community {settings.group_id} ({settings!r}, "
        f"redis_url={mask_url(settings.redis_url)!r})"
    )


def cmd_bot(args: argparse.Namespace) -> int:
    from bot.app import create_bot, serve
    from bot.callback import serve_callback
    from bot.settings import Settings

    _setup_logging()
    settings = Settings.from_env()
    log.info("%s", startup_line(settings))
    # vkbottle keeps the long-poll position in ./.vkbottle/: keep it with our other state, so
    # a restarted bot resumes where it stopped.
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(settings.state_dir)
    child: subprocess.Popen[bytes] | None = None
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
        child = subprocess.Popen(cmd, env=env)
        log.info("embedded worker started (pid %d)", child.pid)
    try:
        bot = create_bot(settings)
        if settings.callback_port:
            asyncio.run(serve_callback(bot, settings))
        else:
            asyncio.run(serve(bot))
    finally:
        if child is not None:
            child.send_signal(2)  # SIGINT: huey finishes the running job, then exits
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from bot.worker_main import run_worker

    _setup_logging()
    settings = Settings.from_env()
    run_worker(settings, workers=args.workers)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))
