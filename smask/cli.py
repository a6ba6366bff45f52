"""Entry point of ``smask``: core's media commands plus the bot's service commands.

The bot's commands are registered only when bot/ is importable, and bot/cli.py imports its
heavy parts lazily, so ``smask correct`` never pays for vkbottle.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading

from core import cli as core_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smask",
        description="Symphonic Masks: pull the out-of-tune notes of a played or sung melody to "
        "pitch, keeping duration, timbre and the picture.",
        epilog="Examples:\n"
        "  smask probe clip.mp4\n"
        "  smask pitch clip.mp4 -o track.csv\n"
        "  smask correct clip.mp4 -o fixed.mp4 --key D --scale minor --report r.json\n"
        "  smask correct clip.mp4 -o fixed.mp4 --score 'E D C D E E E'   (or tune.mid, tune.mxl)\n"
        "  smask tunes\n"
        "  VK_TOKEN=... VK_GROUP_ID=... smask bot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    core_cli.add_commands(subparsers)
    from bot import cli as bot_cli

    bot_cli.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before torch loads: idle OpenMP threads sleep instead of spinning. On a busy 2-core host
    # spinning threads tripled the tracker's wall time (2.3 s vs 7.4-7.9 s for 60 s of audio);
    # on a quiet one it changes nothing measurable. An operator's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else os.environ.get("SMASK_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    code = 1
    try:
        code = core_cli.run(args)
    finally:
        # Also on Ctrl-C or an unexpected error: if the model is still loading in its thread
        # (a clip refused before it was needed), torch's C++ runtime aborts when the
        # interpreter finalizes under a thread inside it, so leave without finalizing, after
        # flushing what we print (a traceback included).
        if any(t.name == "smask-model" and t.is_alive() for t in threading.enumerate()):
            if (exc := sys.exc_info()[1]) is not None:
                code = core_cli.EXIT_FAILED
                if isinstance(exc, KeyboardInterrupt):
                    code = core_cli.EXIT_INTERRUPTED
                elif isinstance(exc, SystemExit) and isinstance(exc.code, int):
                    code = exc.code  # SIGTERM: core_cli.EXIT_TERMINATED
                logging.getLogger("smask").error("stopped: %s", type(exc).__name__)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        if "torch" in sys.modules:
            # The interpreter's last garbage collection walks every object torch made (none
            # of them garbage): 0.3-0.4 s of a cold run on this 2-core host, a fifth of what
            # the command itself needs. Frozen objects are skipped; everything else about the
            # exit (atexit, flushing, temporary directories) runs as usual.
            gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
