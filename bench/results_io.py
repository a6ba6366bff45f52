"""Where every benchmark leaves its table: ``bench/results/<name>.md``, also printed."""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def results_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.md"


def results_name(bench: str, checkpoint: str) -> str:
    """``bench`` for the product's model (``"auto"``), ``bench-<weights>`` for any other
    (``--checkpoint refiner`` writes pitch-refiner.md), so a run on other weights never
    overwrites the figures of the model that ships as the default."""
    stem = Path(checkpoint).stem
    # models.checkpoint.AUTO, spelled out: that module imports torch, which the benches
    # that only time the bot and ffmpeg do not load.
    return bench if stem == "auto" else f"{bench}-{stem}"


def publish(name: str, text: str, *, echo: bool = True) -> Path:
    """Print the table (unless ``echo`` is off) and write it to ``bench/results/<name>.md``."""
    if echo:
        print(text)
    path = results_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path
