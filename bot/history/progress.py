"""Progress over weeks: the sentence and the picture /history answers with.

Both read only the takes' summaries (``bot.history.take.summarize``), so 100 takes cost 100
small JSON reads and one matplotlib figure.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bot.texts import t

MAX_TAKES_SHOWN = 60


def takes_of_tune(takes: list[dict[str, Any]], tune_title: str | None) -> list[dict[str, Any]]:
    """The takes of the current tune when there are any, else the latest takes of any."""
    if tune_title:
        same = [r for r in takes if (r.get("tune") or {}).get("title") == tune_title]
        if same:
            return same[-MAX_TAKES_SHOWN:]
    return takes[-MAX_TAKES_SHOWN:]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _span(days: float, lang: str) -> str:
    if days >= 14:
        return t("span_weeks", lang, n=round(days / 7))
    return t("span_days", lang, n=max(1, round(days)))


def progress_sentence(takes: list[dict[str, Any]], lang: str) -> str:
    """«за 2 нед. в среднем на 6 ц точнее, неверных нот больше нет»: the first third of the
    takes against the last third, so one bad day does not decide it."""
    if len(takes) < 2:
        return t("progress_one_take", lang)
    third = max(1, len(takes) // 3)
    early, late = takes[:third], takes[-third:]
    days = (float(takes[-1]["created_at"]) - float(takes[0]["created_at"])) / 86400
    span = _span(days, lang)
    cents_early = _mean([c for r in early if (c := r["summary"]["mean_cents_before"]) is not None])
    cents_late = _mean([c for r in late if (c := r["summary"]["mean_cents_before"]) is not None])
    parts = []
    if cents_early is not None and cents_late is not None:
        delta = round(cents_early - cents_late)
        if delta >= 1:
            parts.append(t("progress_better", lang, span=span, cents=delta))
        elif delta <= -1:
            parts.append(t("progress_worse", lang, span=span, cents=-delta))
        else:
            parts.append(t("progress_same", lang, span=span))
    if any(r.get("tune") for r in takes):
        wrong_early = _mean([float(r["summary"]["wrong"]) for r in early]) or 0.0
        wrong_late = float(late[-1]["summary"]["wrong"])
        if wrong_late == 0 and wrong_early > 0:
            parts.append(t("progress_no_wrong", lang))
        elif wrong_late < wrong_early:
            parts.append(t("progress_fewer_wrong", lang, before=round(wrong_early),
                           after=round(wrong_late)))  # fmt: skip
    return ", ".join(parts) if parts else t("progress_one_take", lang)


def plot_progress(takes: list[dict[str, Any]], path: Path, lang: str) -> Path:
    """Two panels over the dates: the share of right notes, and the mean cents off before
    correction (lower is better). 1000x620 px, readable in a chat preview."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    dates = [dt.datetime.fromtimestamp(float(r["created_at"])) for r in takes]
    share = [
        100 * s if (s := r["summary"]["right_share"]) is not None else float("nan") for r in takes
    ]
    cents = [
        c if (c := r["summary"]["mean_cents_before"]) is not None else float("nan") for r in takes
    ]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.2), dpi=100, sharex=True)
    try:
        top.plot(dates, share, marker="o", color="#2ca02c")
        top.set_ylim(-5, 105)
        top.set_ylabel(t("chart_right_notes", lang))
        top.grid(alpha=0.3)
        bottom.plot(dates, cents, marker="o", color="#1f5fbf")
        bottom.set_ylim(bottom=0)
        bottom.set_ylabel(t("chart_cents_before", lang))
        bottom.grid(alpha=0.3)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d.%m"))
        fig.suptitle(t("chart_title", lang))
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
