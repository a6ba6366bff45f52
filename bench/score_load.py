"""How long an honest 200-bar MusicXML tune takes to load, before and after the score bounds.

Issue 26 bounded what a score file may hold (bars, signatures, beats per bar, durations, MIDI
events) in the streaming screen that runs before music21, and moved the bot's parse into a
warm child process. Neither may slow down the tune a learner actually sends, so this times the
same generated file through:

* the in-process reader (``core.score.files.read_score_voices``: the CLI's path), on the code
  before the bounds (``--before DIR``, a worktree of the older commit) and on this tree;
* the bot's path on this tree: the warm child of ``core.score.guard`` (the bytes go over a
  pipe, the Score comes back as JSON).

Each variant runs in its own fresh process (music21 imported and one warm-up read first, as a
bot that has served one tune), the processes interleaved over rounds, so a busy host disturbs
them alike; the table gives the median and the min of all reads.

Run: ``git worktree add /tmp/before <commit>`` then
``python -m bench.score_load --before /tmp/before``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BARS = 200
READS = 9  # timed reads per process
ROUNDS = 3


def honest_musicxml(bars: int, *, notes_per_bar: int = 4, title: str = "Etude") -> bytes:
    """A one-part tune as MuseScore writes it: 4/4, quarter notes, a tempo mark, one key."""
    steps = "CDEFGAB"
    length = {1: ("whole", 8), 2: ("half", 4), 4: ("quarter", 2)}[notes_per_bar]
    measures = []
    for b in range(bars):
        head = ""
        if b == 0:
            head = (
                "<attributes><divisions>2</divisions><key><fifths>0</fifths></key>"
                "<time><beats>4</beats><beat-type>4</beat-type></time>"
                "<clef><sign>G</sign><line>2</line></clef></attributes>"
                '<direction placement="above"><direction-type><metronome>'
                "<beat-unit>quarter</beat-unit><per-minute>96</per-minute></metronome>"
                '</direction-type><sound tempo="96"/></direction>'
            )
        notes = "".join(
            f"<note><pitch><step>{steps[(b + k) % 7]}</step><octave>4</octave></pitch>"
            f"<duration>{length[1]}</duration><voice>1</voice><type>{length[0]}</type></note>"
            for k in range(notes_per_bar)
        )
        measures.append(f'<measure number="{b + 1}">{head}{notes}</measure>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1">'
        f"<work><work-title>{title}</work-title></work><part-list>"
        '<score-part id="P1"><part-name>Flute</part-name></score-part></part-list>'
        '<part id="P1">' + "".join(measures) + "</part></score-partwise>"
    ).encode()


def _measure(variant: str) -> list[float]:
    """Seconds per read of the honest tune, in this process, on whatever ``core`` imports."""
    data = honest_musicxml(BARS)
    if variant == "child":
        from core.score.guard import ScoreReaderPool

        pool = ScoreReaderPool()

        def read() -> object:
            return pool.read(data, "etude.musicxml")
    else:
        try:
            from core.score.files import read_score_voices
        except ModuleNotFoundError:  # a tree from before issue 22's move (core/score_files.py)
            from core.score_files import read_score_voices  # type: ignore[no-redef]

        def read() -> object:
            return read_score_voices(data, "etude.musicxml")

    read()  # music21 imported, caches warm: a bot that has served one tune
    times = []
    for _ in range(READS):
        start = time.perf_counter()
        read()
        times.append(time.perf_counter() - start)
    return times


def _run(variant: str, tree: Path) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", variant],
        env=env,
        cwd=str(tree),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(x) for x in json.loads(out.strip().splitlines()[-1])]


def main() -> None:
    from bench.results_io import publish

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a worktree of the code before the bounds")
    parser.add_argument("--measure", choices=("inprocess", "child"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure)))
        return
    variants: list[tuple[str, str, Path]] = []
    if args.before is not None:
        variants.append(("before the bounds: in process", "inprocess", args.before))
    variants += [
        ("with the bounds: in process (CLI)", "inprocess", REPO),
        ("with the bounds: warm child (bot)", "child", REPO),
    ]
    times: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    for _ in range(ROUNDS):
        for label, variant, tree in variants:
            times[label] += _run(variant, tree)
    size = len(honest_musicxml(BARS))
    base = statistics.median(times[variants[0][0]])
    rows = [
        f"| {label} | {statistics.median(ts):.3f} | {min(ts):.3f} | "
        f"{statistics.median(ts) / base:.2f}x |"
        for label, ts in times.items()
    ]
    text = "\n".join(
        [
            "# score_load",
            "",
            f"An honest {BARS}-bar MusicXML tune (one part, 4/4, {4 * BARS} quarter notes, "
            f"{size / 1000:.0f} KB), read to a Score. {ROUNDS} rounds of fresh processes, "
            f"interleaved, {READS} reads each after one warm-up read. Host: "
            f"{platform.machine()}, {platform.python_version()}, CPU only.",
            "",
            "| path | median s | min s | ratio (medians) |",
            "| --- | ---: | ---: | ---: |",
            *rows,
            "",
            "Ratios are to the first row's median.",
            "",
            "Command: `git worktree add /tmp/before <commit before the bounds>; "
            "python -m bench.score_load --before /tmp/before`",
        ]
    )
    publish("score_load", text)


if __name__ == "__main__":
    main()
