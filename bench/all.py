"""Run every committed benchmark in turn: ``python -m bench.all [name ...]``.

Each benchmark prints its table and writes ``bench/results/<name>.md``; this runner only
sequences them (one at a time: they time things, so they must not share the 2 cores).
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = (
    "media_remux",
    "pitch",
    "rooms",
    "gate",
    "retune",
    "score",
    "bot_ack",
    "voice",
    "speed",
    "memory",
)


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    failed = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        print(f"== bench.{name}: exit {result.returncode} in {time.perf_counter() - started:.0f} s")
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
