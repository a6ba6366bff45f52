"""A learner's takes in one small file: what /history and the Mini App's list chart.

``<user>/index.jsonl`` holds one JSON line per take (id, date, tune, file name and the two
charted figures), so 100 takes cost one ~20 KB read instead of 100 reports of ~30 KB each.
It is a cache of the takes' own ``take.json``: the store checks it against the takes folder
on every read and rebuilds what is missing, damaged or stale, so a lost update (two hosts
writing at once over a shared folder) or a torn file heals on the next read.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

INDEX_NAME = "index.jsonl"
SUMMARY_KEYS = ("right_share", "wrong", "mean_cents_before", "notes")


def index_entry(record: dict[str, Any]) -> dict[str, Any]:
    """The index line of a take record (``bot.history.take.take_record``'s shape, so the
    progress chart and the list page read either)."""
    return {
        "take_id": record["take_id"],
        "created_at": float(record["created_at"]),
        "tune": record.get("tune"),
        "file_title": record.get("file_title", ""),
        "summary": {k: record["summary"].get(k) for k in SUMMARY_KEYS},
    }


def _valid(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("take_id"), str):
        return False
    summary = entry.get("summary")
    tune = entry.get("tune")
    return (isinstance(entry.get("created_at"), int | float)
            and isinstance(summary, dict) and all(k in summary for k in SUMMARY_KEYS)
            and (tune is None or isinstance(tune, dict)))  # fmt: skip


def read_index(path: Path) -> dict[str, dict[str, Any]]:
    """The entries by take id; a missing file is empty, a damaged line is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if _valid(entry):
            out[entry["take_id"]] = entry
    return out


def write_index(path: Path, entries: Iterable[dict[str, Any]]) -> None:
    """Atomically (a rename): a reader on any host sees the old index or the new one.

    Never creates the user's folder: a write racing /forget must not bring it back. A
    failed write is harmless (the next read rebuilds), so it is not raised.
    """
    ordered = sorted(entries, key=lambda e: float(e["created_at"]))
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ordered)
    tmp = path.with_name(f".{INDEX_NAME}.{secrets.token_hex(4)}")
    try:
        with open(tmp, "x", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
