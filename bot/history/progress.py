"""Progress over weeks: the sentence and the picture /history answers with.

Both read only the takes' index lines (``bot.history.index``): 100 takes cost one small file
read and one light matplotlib figure (Agg, 640x400 px, no tight_layout), ~0.1 s warm.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from bot.history.links import history_url
from bot.history.store import TakeStore
from bot.logsafe import describe_error
from bot.texts import t

log = logging.getLogger("smask.history")
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


def _date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%d.%m")


def history_answer(store: TakeStore, user_id: int, tune_title: str | None, lang: str,
                   chart: Path) -> tuple[str, Path | None]:  # fmt: skip
    """Blocking: /history's text and its picture (drawn at ``chart``; None without takes or
    when drawing failed: the sentence alone still helps). Everything the command does before
    uploading the photo, so bench/web.py times this."""
    shown = takes_of_tune(store.summaries(user_id), tune_title)
    if not shown:
        return t("history_none", lang), None
    first, last = _date(shown[0]["created_at"]), _date(shown[-1]["created_at"])
    sentence = progress_sentence(shown, lang)
    text = t("history_caption", lang, count=len(shown), first=first, last=last, sentence=sentence)
    url = history_url(store.config, user_id)
    if url:
        text += "\n" + t("history_link", lang, url=url)
    try:
        return text, plot_progress(shown, chart, lang)
    except Exception as exc:
        log.warning("progress picture failed: %s", describe_error(exc))
        return text, None


def load_matplotlib() -> None:
    """Import the chart's matplotlib modules now, in the caller's thread.

    The bot calls it while it is being built, before long poll starts: the first import
    (~1 s with the font cache) would otherwise land on the first learner to say /history.
    Not in a background thread: that import holds the GIL for its whole second, and the
    clips acknowledged meanwhile waited for it (bench.bot_ack p95 ~100 -> ~300 ms).
    """
    import matplotlib.backends.backend_agg
    import matplotlib.dates
    import matplotlib.figure  # noqa: F401


def plot_progress(takes: list[dict[str, Any]], path: Path, lang: str) -> Path:
    """Two panels over the dates: the share of right notes, and the mean cents off before
    correction (lower is better). 640x400 px: readable in a chat preview, and cheap to draw
    (~0.1 s warm): a bare Figure (no pyplot state, safe off the event loop's thread), fixed
    margins instead of tight_layout, and few ticks (ticks are most of a small chart's cost)."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    dates = [dt.datetime.fromtimestamp(float(r["created_at"])) for r in takes]
    share = [
        100 * s if (s := r["summary"]["right_share"]) is not None else float("nan") for r in takes
    ]
    cents = [
        c if (c := r["summary"]["mean_cents_before"]) is not None else float("nan") for r in takes
    ]
    fig = Figure(figsize=(8, 5), dpi=80)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(dates, share, marker="o", color="#2ca02c")
    top.set_ylim(-5, 105)
    top.set_ylabel(t("chart_right_notes", lang))
    bottom.plot(dates, cents, marker="o", color="#1f5fbf")
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel(t("chart_cents_before", lang))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_locator(MaxNLocator(5))
    bottom.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=7))
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d.%m"))
    bottom.tick_params(axis="x", labelrotation=30)
    fig.suptitle(t("chart_title", lang))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.91, bottom=0.13, hspace=0.12)
    fig.savefig(path, format="png")
    return path
