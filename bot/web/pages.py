"""The HTML of the take page and the takes list. Every user-supplied string passes ``_e``
(html.escape) on its way in: a MIDI track title holding markup is shown as text."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from bot.texts import t
from core.notation import is_note_name, key_name, key_uses_flats, note_name

PX_PER_S = 48  # the roll scrolls inside its own box; the page itself never scrolls sideways
ROW_PX = 9
VERDICTS = ("ok", "wrong", "missed", "extra")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _date(ts: float) -> str:
    return dt.datetime.fromtimestamp(float(ts)).strftime("%d.%m.%Y %H:%M")


def _shell(title: str, body: str, lang: str, script: str = "") -> str:
    js = f'<script src="/static/{script}" defer></script>' if script else ""
    return (f'<!doctype html><html lang="{_e(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{_e(title)}</title><link rel="stylesheet" href="/static/page.css">{js}'
            f"</head><body>{body}</body></html>")  # fmt: skip


def message_page(text: str, lang: str) -> str:
    return _shell(text, f'<main><p class="refused">{_e(text)}</p></main>', lang)


def _roll(record: dict[str, Any]) -> str:
    """The notes as a piano roll: each note's target bar, the tune's note where it differed
    (a wrong note's expected pitch, a missed note's dashed box)."""
    notes, missed = record["notes"], record["missed"]
    pitches = [n["midi"] for n in notes] + [
        m for m in [n.get("expected_midi") for n in notes + missed] if m is not None
    ]
    lo, hi = (int(min(pitches)) - 1, int(max(pitches)) + 2) if pitches else (59, 73)
    end = max([n["end_s"] for n in notes] + [m["at_s"] + m["duration_s"] for m in missed] + [1])
    width, height = int(end * PX_PER_S) + 20, (hi - lo) * ROW_PX

    def y(midi: float) -> float:
        return round((hi - midi) * ROW_PX - ROW_PX / 2, 1)

    parts = [f'<svg class="roll" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']  # fmt: skip
    for m in range(lo, hi):
        if m % 12 == 0:
            parts.append(f'<line x1="0" x2="{width}" y1="{y(m) + ROW_PX}" '
                         f'y2="{y(m) + ROW_PX}" class="c"/>')  # fmt: skip
    for n in notes:
        x0, w = (
            round(n["start_s"] * PX_PER_S, 1),
            round(max(n["end_s"] - n["start_s"], 0.05) * PX_PER_S, 1),
        )
        ghost = ""
        if n["verdict"] == "wrong" and n.get("expected_midi") is not None:
            ghost = (f'<rect class="want" x="{x0}" y="{y(n["expected_midi"])}" width="{w}" '
                     f'height="{ROW_PX - 1}"/>')  # fmt: skip
        sung = n["midi"] + n["cents_before"] / 100
        parts.append(
            f'<g class="note {n["verdict"]}" data-note-index="{n["index"]}" '
            f'data-verdict="{n["verdict"]}" data-start="{n["start_s"]}" data-end="{n["end_s"]}">'
            f'{ghost}<rect class="bar" x="{x0}" y="{y(n["midi"])}" width="{w}" '
            f'height="{ROW_PX - 1}" rx="2"/><line class="sung" x1="{x0}" x2="{x0 + w}" '
            f'y1="{y(sung) + ROW_PX / 2}" y2="{y(sung) + ROW_PX / 2}"/></g>'
        )  # fmt: skip
    for m in missed:
        if m.get("expected_midi") is None:
            continue
        x0, w = round(m["at_s"] * PX_PER_S, 1), round(m["duration_s"] * PX_PER_S, 1)
        parts.append(
            f'<g class="note missed" data-note-index="{m["index"]}" data-verdict="missed" '
            f'data-start="{m["at_s"]}" data-end="{m["at_s"] + m["duration_s"]}">'
            f'<rect class="bar" x="{x0}" y="{y(m["expected_midi"])}" width="{w}" '
            f'height="{ROW_PX - 1}" rx="2"/></g>'
        )  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _cents(value: float) -> str:
    return f"{value:+.0f}"


def _name(latin: str | None, lang: str, flats: bool) -> str:
    """A stored Latin name (report.json's) in the learner's notation: «ми¹», "E4"."""
    if not latin or not is_note_name(latin):
        return latin or ""
    return note_name(latin, lang, flats=flats)


def _rows(record: dict[str, Any], lang: str) -> str:
    rows = []
    flats = key_uses_flats(str(record.get("key") or ""))
    for n in record["notes"]:
        name = _name(n["name"], lang, flats)
        if n["verdict"] == "wrong":
            name = f"{name} → {_name(n.get('expected'), lang, flats)}"
        rows.append(f'<tr data-row-index="{n["index"]}" data-start="{n["start_s"]}" '
                    f'data-end="{n["end_s"]}" class="{n["verdict"]}"><td>{_e(name)}</td>'
                    f'<td>{_e(t("web_" + n["verdict"], lang))}</td>'
                    f'<td>{_cents(n["cents_before"])}</td>'
                    f'<td>{_cents(n["cents_after"])}</td></tr>')  # fmt: skip
    for m in record["missed"]:
        missed_name = _name(m["expected"], lang, flats)
        rows.append(f'<tr data-row-index="{m["index"]}" class="missed"><td>{_e(missed_name)}</td>'
                    f'<td>{_e(t("web_missed", lang))}</td><td>–</td><td>–</td></tr>')  # fmt: skip
    unit = "ц" if lang == "ru" else "c"
    head = (f'<tr><th>{_e(t("web_note", lang))}</th><th></th>'
            f'<th>{_e(t("web_before", lang))}, {unit}</th>'
            f'<th>{_e(t("web_after", lang))}, {unit}</th></tr>')  # fmt: skip
    return f'<table class="notes">{head}{"".join(rows)}</table>'


def take_page(record: dict[str, Any], audio_query: str, lang: str) -> str:
    """One take: the roll, both recordings, every note's cents before and after."""
    tune = record.get("tune") or {}
    heading = tune.get("title") or record.get("file_title") or t("web_take", lang)
    facts = [f'<span class="date">{_e(_date(record["created_at"]))}</span>']
    if tune:
        facts.append(
            f'<span>{_e(t("web_tune", lang))}: <b class="tune">{_e(tune["title"])}</b></span>'
        )
    key = str(record.get("key") or "")
    facts.append(f"<span>{_e(t('web_key', lang))}: {_e(key_name(key, lang) if key else '')}</span>")
    base = f"/t/{_e(record['take_id'])}"
    q = _e(audio_query)
    audio = "".join(
        f'<label>{_e(t("web_" + side, lang))}<audio id="{side}" controls preload="auto" '
        f'src="{base}/{side}.ogg?{q}"></audio></label>'
        for side in ("before", "after")
    )  # fmt: skip
    body = (f'<main class="take"><h1>{_e(heading)}</h1><p class="facts">{" · ".join(facts)}</p>'
            f'<p class="hint">{_e(t("web_tap_hint", lang))}</p>'
            f'<div class="rollbox">{_roll(record)}</div><div class="audio">{audio}</div>'
            f"{_rows(record, lang)}</main>")  # fmt: skip
    return _shell(str(heading), body, lang, "take.js")


def progress_svg(takes: list[dict[str, Any]], lang: str) -> str:
    """The same two lines as /history's picture, as a small SVG that fits a phone."""
    if not takes:
        return ""
    w, h, pad = 340, 150, 24
    n = len(takes)

    def x(i: int) -> float:
        return round(pad + (w - 2 * pad) * (i / max(n - 1, 1)), 1)

    share = [r["summary"].get("right_share") for r in takes]
    cents = [r["summary"].get("mean_cents_before") for r in takes]
    top = max([c for c in cents if c is not None] + [10.0])

    def line(values: list[Any], scale: float, cls: str) -> str:
        pts = " ".join(f"{x(i)},{round(h - pad - (h - 2 * pad) * v / scale, 1)}"
                       for i, v in enumerate(values) if v is not None)  # fmt: skip
        return f'<polyline class="{cls}" points="{pts}"/>' if pts else ""

    first, last = _date(takes[0]["created_at"])[:5], _date(takes[-1]["created_at"])[:5]
    return (f'<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="img">'
            f'{line(share, 1.0, "share")}{line(cents, top, "cents")}'
            f'<text x="{pad}" y="{h - 6}">{_e(first)}</text>'
            f'<text x="{w - pad}" y="{h - 6}" text-anchor="end">{_e(last)}</text></svg>'
            f'<p class="legend"><span class="share">■ {_e(t("web_right_share", lang))}</span> '
            f'<span class="cents">■ {_e(t("web_cents_before", lang))}</span></p>')  # fmt: skip


def list_page(takes: list[dict[str, Any]], links: dict[str, str], lang: str) -> str:
    """The learner's takes, newest first, each opening its page."""
    items = []
    for r in reversed(takes):
        tune = (r.get("tune") or {}).get("title") or r.get("file_title") or t("web_take", lang)
        share = r["summary"].get("right_share")
        pct = "" if share is None else f" · {round(100 * share)}%"
        items.append(f'<li data-take-id="{_e(r["take_id"])}"><a href="{_e(links[r["take_id"]])}">'
                     f'<b>{_e(tune)}</b><span>{_e(_date(r["created_at"]))}{pct}</span>'
                     "</a></li>")  # fmt: skip
    listing = f'<ul class="takes">{"".join(items)}</ul>' if items else (
        f'<p>{_e(t("web_no_takes", lang))}</p>')  # fmt: skip
    body = (f'<main class="list"><h1>{_e(t("web_title", lang))}</h1>'
            f"{progress_svg(takes, lang)}{listing}</main>")  # fmt: skip
    return _shell(t("web_title", lang), body, lang)
