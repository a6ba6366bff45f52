"""A take's record: what the page and the progress chart need from a ``core.report.Report``.

Kept as plain JSON beside the audio, so the web process reads it without the pipeline's
classes. Every string in it can come from a user (a file name, a MIDI track title): the page
escapes them all.
"""

from __future__ import annotations

import math
from typing import Any

RECORD_VERSION = 1
# Without a tune, a note counts as right when sung within this many cents of its target
# (about where a careful listener starts to hear it as out of tune).
IN_TUNE_CENTS = 25.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def hz_to_midi(hz: float, a4_hz: float) -> float:
    return 69.0 + 12.0 * math.log2(hz / a4_hz) if hz > 0 else 0.0


def name_to_midi(name: str | None) -> float | None:
    """``"C#4"``/``"Bb3"`` to a MIDI number; None for anything else."""
    if not name:
        return None
    letter, rest = name[0].upper(), name[1:]
    if letter not in "CDEFGAB":
        return None
    pc = NOTE_NAMES.index(letter)
    while rest[:1] in ("#", "b", "♯", "♭"):
        pc += 1 if rest[0] in "#♯" else -1
        rest = rest[1:]
    try:
        octave = int(rest)
    except ValueError:
        return None
    return float(12 * (octave + 1) + pc)


def take_record(report: Any, *, take_id: str, job_id: str, user_id: int, created_at: float,
                file_title: str, kind: str) -> dict[str, Any]:  # fmt: skip
    """The take as the history keeps it; ``report`` is a ``core.report.Report``."""
    a4 = float(report.a4_hz)
    notes = []
    for i, n in enumerate(report.notes):
        target = hz_to_midi(float(n.target_hz), a4)
        verdict = n.verdict if n.verdict in ("ok", "wrong", "extra") else "ok"
        notes.append({
            "index": i, "start_s": round(float(n.start_s), 3), "end_s": round(float(n.end_s), 3),
            "name": n.name, "midi": round(target, 2),
            "cents_before": round(float(n.cents_before), 1),
            "cents_after": round(float(n.cents_after), 1),
            "verdict": verdict,
            "expected": n.expected, "expected_midi": name_to_midi(n.expected),
        })  # fmt: skip
    missed = [
        {"index": len(notes) + j, "expected": m.expected, "at_s": round(float(m.at_s), 3),
         "duration_s": round(max(float(getattr(m, "duration_s", 0.0)), 0.15), 3),
         "expected_midi": name_to_midi(m.expected), "verdict": "missed"}
        for j, m in enumerate(report.missed)
    ]  # fmt: skip
    score = report.score
    tune = None
    if score is not None:
        tune = {"title": score.title or score.source, "is_the_tune": bool(score.is_the_tune)}
    record = {
        "version": RECORD_VERSION, "take_id": take_id, "job_id": job_id, "user_id": user_id,
        "created_at": created_at, "file_title": file_title, "kind": kind, "tune": tune,
        "key": report.key, "a4_hz": round(a4, 2), "duration_s": round(float(report.duration_s), 3),
        "notes": notes, "missed": missed,
    }  # fmt: skip
    record["summary"] = summarize(record)
    return record


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """The two figures a take is charted by: the share of right notes and the learner's own
    intonation (mean |cents| off before correction, weighted by note length)."""
    notes = record["notes"]
    missed = record["missed"]
    if record.get("tune"):
        right = sum(1 for n in notes if n["verdict"] == "ok")
        wrong = sum(1 for n in notes if n["verdict"] == "wrong")
        counted = right + wrong + len(missed)
    else:  # no tune: no wrong notes, only notes sung far from their target
        right = sum(1 for n in notes if abs(n["cents_before"]) <= IN_TUNE_CENTS)
        wrong = 0
        counted = len(notes)
    weights = [max(n["end_s"] - n["start_s"], 0.0) for n in notes]
    total = sum(weights)
    mean = sum(w * abs(n["cents_before"]) for w, n in zip(weights, notes, strict=True))
    return {
        "right_share": (right / counted) if counted else None,
        "wrong": wrong + len(missed),
        "mean_cents_before": (mean / total) if total > 0 else None,
        "notes": len(notes),
    }
