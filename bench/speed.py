"""How fast is ``smask`` on a 60 s 720p clip, cold and warm, against what cannot be avoided.

Cold (a new process, as a user at a terminal runs it): ``smask correct``, ``smask pitch``,
``smask --help`` and ``smask probe`` against two yardsticks measured in the same round:
T_import, ``python -c "import torch, nnAudio"`` (the part of a cold start no code of ours can
remove), and the ffmpeg floor, plain ffmpeg doing the same decode + AAC encode + remux
(:func:`bench.media_remux.floor`). Targets (issue 14): correct within T_import + 1.5x floor,
pitch within T_import + 1 s, help and probe without torch.

``import torch, nnAudio`` imports nnAudio's package only; its CQT lives in
``nnAudio.features``, whose import brings scipy.signal (about 0.5 s here). The checkpoint
carries the kernels nnAudio built (:class:`models.cqt.CqtKernels`), so a cold run imports
neither.

T_import's own exit pays the interpreter's last garbage collection over torch's objects
(0.3-0.4 s here); ``smask`` freezes the collector before it exits and skips it. So the table
also gives the cold figures against a T_import that exits the same way (``gc.freeze()`` after
the imports): what the pipeline itself costs, without that exit saving.

Warm (what the bot's worker runs: one process, model loaded): ``correct_file`` in-process
against the floor; target 1.3x.

Every round runs every variant once, round-robin, so load from other processes hits all alike;
ratios are taken within a round, and the table gives their median and best.

Run: ``python -m bench.speed [--rounds N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.results_io import publish

REPO = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def _heavy_modules(cmd: list[str], env: dict[str, str]) -> list[str]:
    """Which of torch, nnAudio, pandas, scipy, matplotlib a command imports (-X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *cmd], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    watch = ("torch", "nnAudio", "pandas", "scipy", "scipy.signal", "scipy.ndimage", "matplotlib")
    return [m for m in watch if m in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every variant")
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length in seconds")
    args = parser.parse_args(argv)
    # As the smask entry point does, before torch loads in this process (the warm runs).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from bench.media_remux import floor
    from bench.retune import make_long_clip
    from core.media.probe import probe
    from core.pipeline import CorrectOptions, correct_file
    from models.checkpoint import load_tracker

    env = dict(os.environ)
    smask = [sys.executable, "-m", "smask"]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="smask-speed-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "clip720p.mp4"
        make_long_clip(src, args.seconds, tmp)
        tracker = load_tracker("auto", "cpu")
        correct_file(src, tmp / "warmup.mp4", CorrectOptions(), tracker=tracker)

        def warm() -> None:
            correct_file(src, tmp / "warm.mp4", CorrectOptions(), tracker=tracker)

        info = probe(src)

        def warm_probed() -> None:
            # The bot's worker probes before it loads anything, then hands the facts over.
            correct_file(src, tmp / "warm.mp4", CorrectOptions(), tracker=tracker, info=info)

        def floor_run() -> None:
            floor(src, tmp / "floor.mp4")

        variants: dict[str, Callable[[], float]] = {
            "T_import": lambda: _timed([sys.executable, "-c", "import torch, nnAudio"], env),
            # The same imports, exiting as smask does (no last collection over torch's objects).
            "T_import, frozen exit": lambda: _timed(
                [sys.executable, "-c", "import torch, nnAudio, gc; gc.freeze()"], env
            ),
            "floor": lambda: _time_call(floor_run),
            "correct (cold)": lambda: _timed(
                [*smask, "correct", str(src), "-o", str(tmp / "cold.mp4"), "-q"], env
            ),
            "pitch (cold)": lambda: _timed(
                [*smask, "pitch", str(src), "-o", str(tmp / "track.csv")], env
            ),
            "--help (cold)": lambda: _timed([*smask, "--help"], env),
            "probe (cold)": lambda: _timed([*smask, "probe", str(src)], env),
            "correct_file (warm)": lambda: _time_call(warm),
            "correct_file (warm, probed before)": lambda: _time_call(warm_probed),
        }
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            rounds.append({name: fn() for name, fn in variants.items()})
        imports = {
            "smask --help": _heavy_modules(["-m", "smask", "--help"], env),
            "smask probe": _heavy_modules(["-m", "smask", "probe", str(src)], env),
        }
    load_after = os.getloadavg()

    def ratio_rows() -> list[tuple[str, list[float], str]]:
        return [
            ("correct (cold) - T_import, in floors", [
                (r["correct (cold)"] - r["T_import"]) / r["floor"] for r in rounds], "<= 1.5"),
            ("pitch (cold) - T_import, s", [
                r["pitch (cold)"] - r["T_import"] for r in rounds], "<= 1.0"),
            ("correct (cold) - T_import with a frozen exit, in floors", [
                (r["correct (cold)"] - r["T_import, frozen exit"]) / r["floor"]
                for r in rounds], "(<= 1.5 read so)"),
            ("pitch (cold) - T_import with a frozen exit, s", [
                r["pitch (cold)"] - r["T_import, frozen exit"] for r in rounds],
             "(<= 1.0 read so)"),
            ("correct_file (warm) / floor", [
                r["correct_file (warm)"] / r["floor"] for r in rounds], "<= 1.3"),
            ("correct_file (warm, probed before) / floor", [
                r["correct_file (warm, probed before)"] / r["floor"] for r in rounds], "<= 1.3"),
        ]  # fmt: skip

    lines = [
        "# speed",
        "",
        f"Clip: {args.seconds:.0f} s, H.264 1280x720 30 fps + AAC stereo 48 kHz, a FluidR3 "
        f"flute melody (bench.retune's long clip). {args.rounds} rounds, every variant once "
        f"per round, wall time. Host: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, CPU only; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (other processes share the host).",
        "",
        "| variant | median s | min s | max s |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {name} | {statistics.median(ts):.2f} | {min(ts):.2f} | {max(ts):.2f} |"
            for name in variants
            for ts in [[r[name] for r in rounds]]
        ),
        "",
        "Ratios within each round (target from issue 14):",
        "",
        "| measure | median | best | target |",
        "| --- | ---: | ---: | --- |",
        *(
            f"| {name} | {statistics.median(v):.2f} | {min(v):.2f} | {target} |"
            for name, v, target in ratio_rows()
        ),
        "",
        "Heavy imports (python -X importtime): "
        + "; ".join(f"`{cmd}`: {', '.join(mods) or 'none'}" for cmd, mods in imports.items())
        + ".",
        "",
        "Command: `python -m bench.speed"
        + (f" --rounds {args.rounds}" if args.rounds != 5 else "")
        + (f" --seconds {args.seconds:g}" if args.seconds != 60.0 else "")
        + "`",
        "",
    ]
    publish("speed", "\n".join(lines))
    return 0


def _time_call(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    raise SystemExit(main())
