"""The intonation report: what was off, by how much, and what it is now.

One object serves three readers: ``to_dict()`` is report.json for scripts, ``to_text(lang)`` is
the few lines a chat message can hold, and ``plot(path)`` is the picture that explains it at a
glance (pitch before and after over the grid of target notes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.units import A4_HZ, hz_to_midi, midi_to_note_name

LANGS = ("ru", "en")
_WORST_SHOWN = 3  # notes named in the chat text
_PLAIN_CENTS = 10.0  # cents: below this a note reads as "in tune" in the chat text


@dataclass(frozen=True)
class NoteReport:
    """One note: where it is, what it should be, and how far off it was and is (cents).

    ``vibrato_cents`` (half the peak-to-peak swing of its steady part) is what natural mode
    keeps: a musician reads it as "my vibrato was left as it was", and it says why a note's
    frames wander around a centre that is in tune.
    """

    start_s: float
    end_s: float
    name: str
    target_hz: float
    cents_before: float
    cents_after: float
    vibrato_cents: float = 0.0


@dataclass(frozen=True)
class Report:
    """Result of correcting one recording.

    ``times_s``, ``f0_before_hz`` and ``f0_after_hz`` are the frame-wise pitch (NaN unvoiced)
    used by :meth:`plot`; they are left out of :meth:`to_dict`, which stays small.
    """

    notes: list[NoteReport]
    key: str
    key_detected: bool
    a4_hz: float = A4_HZ
    a4_estimated: bool = False  # True: a4_hz was read from the recording (``--a4 auto``)
    mode: str = "natural"
    duration_s: float = 0.0
    times_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)
    f0_before_hz: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)
    f0_after_hz: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)

    # ------------------------------------------------------------------------------------------
    @property
    def mean_abs_cents_before(self) -> float:
        return _mean_abs([n.cents_before for n in self.notes], [n for n in self.notes])

    @property
    def mean_abs_cents_after(self) -> float:
        return _mean_abs([n.cents_after for n in self.notes], [n for n in self.notes])

    @property
    def n_corrected(self) -> int:
        return sum(1 for n in self.notes if abs(n.cents_before - n.cents_after) > 0.5)

    def summary(self) -> dict[str, Any]:
        return {
            "notes": len(self.notes),
            "notes_corrected": self.n_corrected,
            "mean_abs_cents_before": round(self.mean_abs_cents_before, 2),
            "mean_abs_cents_after": round(self.mean_abs_cents_after, 2),
            "key": self.key,
            "key_detected": self.key_detected,
            "a4_estimated": self.a4_estimated,
            "a4_hz": round(self.a4_hz, 3),
            "mode": self.mode,
            "duration_s": round(self.duration_s, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        """report.json: per-note facts plus a summary; durations weight the means."""
        return {
            "summary": self.summary(),
            "notes": [
                {
                    **asdict(n),
                    "start_s": round(n.start_s, 3),
                    "end_s": round(n.end_s, 3),
                    "target_hz": round(n.target_hz, 3),
                    "cents_before": round(n.cents_before, 2),
                    "cents_after": round(n.cents_after, 2),
                    "vibrato_cents": round(n.vibrato_cents, 1),
                }
                for n in self.notes
            ],
        }

    def to_text(self, lang: str = "ru") -> str:
        """A short, chat-friendly account of the intonation, in Russian (default) or English."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        before, after = self.mean_abs_cents_before, self.mean_abs_cents_after
        worst = sorted(self.notes, key=lambda n: -abs(n.cents_before))[:_WORST_SHOWN]
        worst = [n for n in worst if abs(n.cents_before) >= _PLAIN_CENTS]
        key_name = _key_name(self.key, lang)
        if lang == "ru":
            lines = [
                f"Нот: {len(self.notes)}, поправлено: {self.n_corrected}.",
                f"Среднее отклонение: было {before:.0f} ц, стало {after:.0f} ц.",
                f"Тональность: {key_name}{' (определена сама)' if self.key_detected else ''}, "
                f"ля = {self.a4_hz:.1f} Гц{' (по записи)' if self.a4_estimated else ''}.",
            ]
            if worst:
                items = ", ".join(
                    f"{n.name} на {n.start_s:.1f} с ({n.cents_before:+.0f} ц)" for n in worst
                )
                lines.append(f"Сильнее всего фальшивили: {items}.")
            else:
                lines.append("Все ноты и так были почти точно в тон.")
        else:
            lines = [
                f"Notes: {len(self.notes)}, corrected: {self.n_corrected}.",
                f"Mean deviation: {_cents_en(before)} before, {_cents_en(after)} after.",
                f"Key: {key_name}{' (detected)' if self.key_detected else ''}, "
                f"A4 = {self.a4_hz:.1f} Hz{' (estimated)' if self.a4_estimated else ''}.",
            ]
            if worst:
                items = ", ".join(
                    f"{n.name} at {n.start_s:.1f} s ({n.cents_before:+.0f} cents)" for n in worst
                )
                lines.append(f"Most out of tune: {items}.")
            else:
                lines.append("Every note was already almost exactly in tune.")
        return "\n".join(lines)

    def plot(self, path: str | Path) -> None:
        """PNG for the chat (1200x600 px): the melody on top, the tuning error below.

        Top: pitch before (grey) and after (blue) over a semitone grid labelled with note
        names, each note's target as a green bar. Bottom: the same in cents from each note's
        target, where 30 cents is half the panel instead of a hair's breadth, with the +-5 cent
        band nobody hears shaded: the grey line wanders outside, the blue one sits inside.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        midi_before = hz_to_midi(self.f0_before_hz, a4_hz=self.a4_hz)
        midi_after = hz_to_midi(self.f0_after_hz, a4_hz=self.a4_hz)
        target = np.full(len(self.times_s), np.nan)
        for n in self.notes:
            inside = (self.times_s >= n.start_s) & (self.times_s < n.end_s)
            target[inside] = float(hz_to_midi(n.target_hz, a4_hz=self.a4_hz))
        # Only frames inside a note are drawn: between notes a tracker's reading of breath and
        # of the first milliseconds of a slide is noise that would hide the melody.
        # So are octave slips and the far end of a slide (more than 3/4 of a semitone away).
        with np.errstate(invalid="ignore"):
            midi_before = np.where(np.abs(midi_before - target) <= 0.75, midi_before, np.nan)
            midi_after = np.where(np.abs(midi_after - target) <= 0.75, midi_after, np.nan)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(10, 5), dpi=120, sharex=True, gridspec_kw={"height_ratios": [3, 2]}
        )
        try:
            finite = np.concatenate(
                [midi_before[np.isfinite(midi_before)], midi_after[np.isfinite(midi_after)]]
            )
            lo_f, hi_f = np.percentile(finite, [1, 99]) if len(finite) else (60.0, 72.0)
            lo, hi = int(np.floor(lo_f)) - 1, int(np.ceil(hi_f)) + 1
            for m in range(lo, hi + 1):
                top.axhline(m, color="#e4e4e4", linewidth=0.6, zorder=0)
            step = max(1, (hi - lo) // 18 + 1)
            top.set_yticks(range(lo, hi + 1, step))
            top.set_yticklabels([midi_to_note_name(m) for m in range(lo, hi + 1, step)], fontsize=7)
            for n in self.notes:
                bar = float(hz_to_midi(n.target_hz, a4_hz=self.a4_hz))
                top.plot([n.start_s, n.end_s], [bar, bar], color="#2ca02c", linewidth=4, alpha=0.35,
                         solid_capstyle="butt", zorder=1)  # fmt: skip
            top.plot(self.times_s, midi_before, color="#999999", linewidth=1.1, label=_label(
                "before", self.mean_abs_cents_before))  # fmt: skip
            top.plot(self.times_s, midi_after, color="#1f5fbf", linewidth=1.1, label=_label(
                "after", self.mean_abs_cents_after))  # fmt: skip
            top.set_ylim(lo - 0.5, hi + 0.5)
            top.legend(loc="upper right", fontsize=8, framealpha=0.9)
            top.set_title(f"{self.key}, A4 = {self.a4_hz:.1f} Hz; green: target notes",
                          fontsize=9)  # fmt: skip

            bottom.axhspan(-5, 5, color="#2ca02c", alpha=0.12, linewidth=0)
            bottom.axhline(0, color="#2ca02c", linewidth=0.8)
            for midi, colour in ((midi_before, "#999999"), (midi_after, "#1f5fbf")):
                off = (midi - target) * 100
                # Glides into the next note leave the panel; don't draw them as walls.
                off[np.abs(off) > 55] = np.nan
                bottom.plot(self.times_s, off, color=colour, linewidth=1.1)
            bottom.set_ylim(-55, 55)
            bottom.set_yticks([-50, -25, 0, 25, 50])
            bottom.set_ylabel("cents off", fontsize=8)
            bottom.set_xlabel("time, s")
            end = float(self.times_s[-1]) if len(self.times_s) else 1.0
            bottom.set_xlim(0, max(self.duration_s, end))
            fig.tight_layout()
            fig.savefig(path, format="png")
        finally:
            plt.close(fig)


def _label(which: str, cents: float) -> str:
    return f"{which}: mean {_cents_en(cents)} off"


def _cents_en(cents: float) -> str:
    return "1 cent" if round(cents) == 1 else f"{cents:.0f} cents"


def _mean_abs(values: list[float], notes: list[NoteReport]) -> float:
    """Duration-weighted mean of |cents|: a long sour note matters more than a grace note."""
    if not values:
        return 0.0
    weights = np.array([max(n.end_s - n.start_s, 1e-3) for n in notes])
    return float(np.average(np.abs(np.asarray(values)), weights=weights))


_SCALES_RU = {
    "major": "мажор",
    "minor": "минор",
    "natural_minor": "натуральный минор",
    "harmonic_minor": "гармонический минор",
    "melodic_minor": "мелодический минор",
    "major_pentatonic": "мажорная пентатоника",
    "minor_pentatonic": "минорная пентатоника",
    "chromatic": "хроматическая гамма",
}


def _key_name(key: str, lang: str) -> str:
    """'D major' -> 'D мажор' for Russian; other scale names stay as they are."""
    if lang != "ru" or " " not in key:
        return key.replace("_", " ")
    tonic, scale = key.split(" ", 1)
    return f"{tonic} {_SCALES_RU.get(scale, scale.replace('_', ' '))}"
