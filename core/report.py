"""The intonation report: what was off, by how much, and what it is now.

One object serves three readers: ``to_dict()`` is report.json for scripts, ``to_text(lang)`` is
the few lines a chat message can hold, and ``plot(path, lang)`` is the picture that explains it
at a glance (pitch before and after over the grid of target notes). report.json keeps Latin note
names and internal source names; the text and the picture speak the learner's language through
:mod:`core.notation` («ми¹ на 8,4 с»), so a Russian reply never mixes in "E4" or "8.4".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.notation import (
    CENTS_EXPLAINED,
    a4_text,
    key_name,
    key_uses_flats,
    note_name,
    number,
    ru_plural,
    signed,
)
from models.units import A4_HZ, hz_to_midi, midi_to_hz, midi_to_note_name

if TYPE_CHECKING:
    from core.plan.options import CorrectOptions
    from core.plan.planner import Plan

LANGS = ("ru", "en")
_WORST_SHOWN = 3  # notes named in the chat text
_PLAIN_CENTS = 10.0  # cents: below this a note reads as "in tune" in the chat text
_MISTAKES_SHOWN = 10  # wrong, missed and mistimed notes named in the chat text
_OFF_KEY_SHOWN = 5  # notes outside a named key named in the chat text
_EXTRAS_SHOWN = 20  # extra notes named one by one in the chat text; the picture marks them all
_EXTRA_COLOUR = "#ff7f0e"  # orange: an extra note on the picture (red is wrong and missed)


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
    # Checked against a score (all None without one, or when the take is not the tune):
    score_index: int | None = None  # 0-based score note it was matched to; None: extra
    expected: str | None = None  # that note's name after transposition
    verdict: str | None = None  # "ok", "wrong" or "extra"
    onset_error_s: float | None = None  # + late, - early, vs. the tune's rhythm at the take's tempo
    played: str | None = None  # the note the learner played (nearest), for the text; not in JSON
    off_key: bool = False  # tuned to a note outside the key the user named (not moved into it)


@dataclass(frozen=True)
class MissedReport:
    """A score note the learner skipped, and where in the take it belonged."""

    score_index: int
    expected: str
    at_s: float
    expected_midi: int = 0  # for the picture; not in JSON
    duration_s: float = 0.0  # its length at the take's tempo, for the picture; not in JSON


def printable(text: str) -> str:
    """``text`` as valid Unicode: a byte a file name smuggled in as a lone surrogate
    (``os.fsdecode``'s surrogateescape) becomes ``\\xff``, any other lone surrogate U+FFFD."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(
        f"\\x{ord(c) - 0xDC00:02x}"
        if "\udc80" <= c <= "\udcff"
        else "\ufffd"
        if "\ud800" <= c <= "\udfff"
        else c
        for c in text
    )


@dataclass(frozen=True)
class ScoreReport:
    """How the take went against its tune. ``matched`` counts the score notes played, right
    or wrong (``wrong`` of them wrong); ``bars`` (per score note, None without a time
    signature), ``seconds_per_beat`` (the take's) and ``timing`` (score index -> onset error in
    beats, for notes a teacher would call early or late) feed the text, not the JSON.
    ``timed`` False: the tune was typed without lengths, so no tempo or rhythm is judged."""

    source: str
    notes: int
    transposition_semitones: int
    tempo_ratio: float
    matched: int
    wrong: int
    missed: int
    extra: int
    is_the_tune: bool = True
    title: str | None = None
    bars: tuple[int | None, ...] = ()
    seconds_per_beat: float = 0.5
    timing: tuple[tuple[int, float], ...] = ()
    durations_beats: tuple[float, ...] = ()
    timed: bool = True

    def __post_init__(self) -> None:
        # The source is often a file name, and a POSIX name need not be UTF-8: Python hands
        # its stray bytes over as lone surrogates, which no UTF-8 writer (report.json, the
        # terminal, a chat message) accepts. Spelled out here once, every reader gets text.
        object.__setattr__(self, "source", printable(self.source))
        if self.title is not None:
            object.__setattr__(self, "title", printable(self.title))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "notes": self.notes,
            "is_the_tune": self.is_the_tune,
            "transposition_semitones": self.transposition_semitones,
            "timed": self.timed,
            "tempo_ratio": round(self.tempo_ratio, 3) if self.timed else None,
            "matched": self.matched,
            "wrong": self.wrong,
            "missed": self.missed,
            "extra": self.extra,
        }


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
    missed: list[MissedReport] = field(default_factory=list)
    score: ScoreReport | None = None  # None: no tune given (nearest-note correction)
    # The take's harmonicity (dB, core.analysis.pitch.PitchTrack; None: too few notes to read it)
    # and whether it reads as recorded in noise or echo: the text then suggests a quieter place.
    harmonicity_db: float | None = None
    noisy_recording: bool = False

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
            "harmonicity_db": (
                None if self.harmonicity_db is None else round(self.harmonicity_db, 1)
            ),
            "noisy_recording": self.noisy_recording,
        }

    def to_dict(self) -> dict[str, Any]:
        """report.json: per-note facts plus a summary; durations weight the means.

        With a score, each note also says which score note it was (``score_index``,
        ``expected``), its ``verdict`` and ``onset_error_s``; ``missed`` lists skipped score
        notes and ``score`` sums the take up. Without one those are null / empty.
        """
        notes = []
        for n in self.notes:
            entry = {
                **asdict(n),
                "start_s": round(n.start_s, 3),
                "end_s": round(n.end_s, 3),
                "target_hz": round(n.target_hz, 3),
                "cents_before": round(n.cents_before, 2),
                "cents_after": round(n.cents_after, 2),
                "vibrato_cents": round(n.vibrato_cents, 1),
                "onset_error_s": None if n.onset_error_s is None else round(n.onset_error_s, 3),
            }
            del entry["played"]
            notes.append(entry)
        return {
            "summary": self.summary(),
            "notes": notes,
            "missed": [
                {"score_index": m.score_index, "expected": m.expected, "at_s": round(m.at_s, 3)}
                for m in self.missed
            ],
            "score": None if self.score is None else self.score.to_dict(),
            # The notes that did not fit the key the user named: each kept its own note.
            "off_key_notes": [
                {"start_s": round(n.start_s, 3), "end_s": round(n.end_s, 3), "name": n.name}
                for n in self.notes
                if n.off_key
            ],
        }

    def to_text(self, lang: str = "ru", *, cli: bool = False) -> str:
        """A short, chat-friendly account of the intonation, in Russian (default) or English.

        ``cli``: the advice names the CLI's option (``--key``) instead of the bot's /key.
        """
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        before, after = self.mean_abs_cents_before, self.mean_abs_cents_after
        tune_notes = self.notes
        if self.score is not None and self.score.is_the_tune:
            # Against a tune, name the tune's notes: a cough before it is no one's intonation.
            tune_notes = [n for n in self.notes if n.verdict in ("ok", "wrong")]
        worst = sorted(tune_notes, key=lambda n: -abs(n.cents_before))[:_WORST_SHOWN]
        worst = [n for n in worst if abs(n.cents_before) >= _PLAIN_CENTS]
        key = key_name(self.key, lang)
        flats = key_uses_flats(self.key)
        if lang == "ru":
            lines = [
                f"Нот: {len(self.notes)}, поправлено: {self.n_corrected}.",
                f"Среднее отклонение: было {number(before, lang, 0)} ц, "
                f"стало {number(after, lang, 0)} ц.",
                f"Тональность: {key}{' (определена сама)' if self.key_detected else ''}, "
                f"{a4_text(self.a4_hz, lang)}{' (по записи)' if self.a4_estimated else ''}.",
            ]
            if worst:
                items = ", ".join(
                    f"{_note(n.name, lang, flats, long=True)} на {number(n.start_s, lang)} с "
                    f"({signed(n.cents_before, lang)} ц)"
                    for n in worst
                )
                lines.append(f"Сильнее всего фальшивили: {items}.")
            else:
                lines.append("Все ноты и так были почти точно в тон.")
            if self.noisy_recording:
                lines.append(
                    "Запись шумная или гулкая: я слушал особенно внимательно, но точнее всего "
                    "получится, если записать поближе к телефону и там, где тише."
                )
        else:
            lines = [
                f"Notes: {len(self.notes)}, corrected: {self.n_corrected}.",
                f"Mean deviation: {_cents_en(before)} before, {_cents_en(after)} after.",
                f"Key: {key}{' (detected)' if self.key_detected else ''}, "
                f"{a4_text(self.a4_hz, lang)}{' (estimated)' if self.a4_estimated else ''}.",
            ]
            if worst:
                items = ", ".join(
                    f"{_note(n.name, lang, flats)} at {number(n.start_s, lang)} s "
                    f"({signed(n.cents_before, lang)} cents)"
                    for n in worst
                )
                lines.append(f"Most out of tune: {items}.")
            else:
                lines.append("Every note was already almost exactly in tune.")
            if self.noisy_recording:
                lines.append(
                    "The recording is noisy or echoey: I listened extra carefully, but the "
                    "check is most accurate close to the phone in a quieter place."
                )
        lines += self._off_key_lines(lang, cli)
        return "\n".join(_explain_cents(self._score_lines(lang) + lines, lang))

    def _off_key_lines(self, lang: str, cli: bool) -> list[str]:
        """The notes that did not fit the key the user named, and how to stop naming it: each
        was tuned to its own nearest note, which a learner must hear about, not find out."""
        off = [n for n in self.notes if n.off_key]
        if not off:
            return []
        ru, flats = lang == "ru", key_uses_flats(self.key)
        shown = ", ".join(
            f"{_note(n.name, lang, flats)} {'на' if ru else 'at'} {number(n.start_s, lang)} "
            f"{'с' if ru else 's'}"
            for n in off[:_OFF_KEY_SHOWN]
        )
        if len(off) > _OFF_KEY_SHOWN:
            more = len(off) - _OFF_KEY_SHOWN
            shown += f" и ещё {more}" if ru else f" and {more} more"
        key = key_name(self.key, lang)
        if ru:
            advice = "запустите без --key" if cli else "наберите /key auto"
            return [
                f"Не подошли к тональности {key}: {shown}. Их я подстроил к их собственным "
                f"ближайшим нотам. Если мелодия в другой тональности, {advice}."
            ]
        advice = "run without --key" if cli else "send /key auto"
        return [
            f"Not in {key}: {shown}. I tuned them to their own nearest notes. "
            f"If the melody is in another key, {advice}."
        ]

    def _score_lines(self, lang: str) -> list[str]:
        """What a teacher says first: was it the tune, which notes were wrong, missed or off
        the beat (the ten that matter most, in the order of the tune), or a word of praise."""
        sc = self.score
        if sc is None:
            return []
        from core.score.describe import tune_title

        ru = lang == "ru"
        flats = key_uses_flats(self.key)
        title = tune_title(sc.source, sc.title, lang)
        if not sc.is_the_tune:
            if ru:
                what = f"на «{title}»" if title else "на набранную мелодию"
                return [f"Не похоже {what}: подстроили к ближайшим нотам, без разбора ошибок."]
            what = f'like "{title}"' if title else "like the tune you typed"
            return [f"This doesn't sound {what}: tuned to the nearest notes, no mistakes named."]
        lines = [_tune_line(sc, title, lang)]
        right, of = sc.matched - sc.wrong, sc.matched + sc.missed
        if ru:
            lines.append(
                f"Верных нот: {right} из {of}; неверных: {sc.wrong}, пропущено: {sc.missed}, "
                f"лишних: {sc.extra}."
            )
        else:
            lines.append(
                f"Right notes: {right} of {of}; wrong: {sc.wrong}, missed: {sc.missed}, "
                f"extra: {sc.extra}."
            )
        # (priority, score index, text): wrong and missed notes before timing; longer notes first.
        items: list[tuple[float, int, str]] = []
        for n in self.notes:
            if n.verdict == "wrong" and n.score_index is not None and n.onset_error_s is not None:
                played, expected = (_note(n.played, lang, flats), _note(n.expected, lang, flats))
                text = (f"сыграно {played} вместо {expected}" if ru
                        else f"played {played} instead of {expected}")  # fmt: skip
                items.append((2.0 + _beats(sc, n.score_index), n.score_index, text))
        for m in self.missed:
            expected, at = _note(m.expected, lang, flats), number(m.at_s, lang)
            text = (f"пропущена {expected} (около {at} с)" if ru
                    else f"missed {expected} (at {at} s)")  # fmt: skip
            items.append((2.0 + _beats(sc, m.score_index), m.score_index, text))
        for index, beats in sc.timing:
            if ru:
                later = "позже" if beats > 0 else "раньше"
                text = f"вступление {later} на {number(abs(beats), lang)} доли"
            else:
                text = f"came in {'late' if beats > 0 else 'early'} by {abs(beats):.1f} beat"
            items.append((min(abs(beats), 1.9), index, text))
        items.sort(key=lambda item: -item[0])
        shown = sorted(items[:_MISTAKES_SHOWN], key=lambda item: item[1])
        for _, index, text in shown:
            lines.append(_note_label(sc, index, lang) + text + ".")
        if len(items) > len(shown):
            more = len(items) - len(shown)
            lines.append(f"...и ещё {more}." if ru else f"...and {more} more.")
        lines.extend(self._extra_lines(lang, flats))
        # Praise only a take with nothing wrong, missed or extra: a teacher signs that.
        if sc.wrong == 0 and sc.missed == 0 and sc.extra == 0:
            lines.append("Все ноты сыграны верно — молодец!" if ru
                         else "Every note was right. Well done!")  # fmt: skip
        elif sc.wrong + sc.missed + sc.extra <= 2:
            lines.append("Почти без ошибок — так держать!" if ru
                         else "Nearly all right. Keep it up!")  # fmt: skip
        return lines

    def _extra_lines(self, lang: str, flats: bool) -> list[str]:
        """Every extra note by name and time, as the picture marks them: "лишних: 1" alone
        leaves the learner hunting for it."""
        extras = sorted((n for n in self.notes if n.verdict == "extra"), key=lambda n: n.start_s)
        if not extras:
            return []
        ru = lang == "ru"
        shown = [
            f"{_note(n.name, lang, flats)} {'на' if ru else 'at'} {number(n.start_s, lang)} "
            f"{'с' if ru else 's'}"
            for n in extras[:_EXTRAS_SHOWN]
        ]
        more = len(extras) - len(shown)
        if ru:
            head = "Лишняя нота" if len(extras) == 1 else "Лишние ноты"
            tail = f" и ещё {more} (все отмечены на картинке)" if more else ""
        else:
            head = "Extra note" if len(extras) == 1 else "Extra notes"
            tail = f" and {more} more (all marked on the picture)" if more else ""
        return [f"{head}: {', '.join(shown)}{tail}."]

    def plot(self, path: str | Path, lang: str = "ru") -> None:
        """PNG for the chat (1200x600 px): the melody on top, the tuning error below.

        Top: pitch before (grey) and after (blue) over a semitone grid labelled with note
        names, each note's target as a green bar. Bottom: the same in cents from each note's
        target, where 30 cents is half the panel instead of a hair's breadth, with the +-5 cent
        band nobody hears shaded: the grey line wanders outside, the blue one sits inside.
        Every word and number on it is in ``lang`` (note names «ми¹», decimals with a comma).
        """
        import matplotlib.pyplot as plt

        fig = self.figure(lang)
        try:
            fig.savefig(path, format="png")
        finally:
            plt.close(fig)

    def figure(self, lang: str = "ru") -> Any:
        """The picture of :meth:`plot` as a matplotlib Figure, before it is written: the words
        on it can be read back (a test checks they are all in ``lang``). The caller closes it
        (``matplotlib.pyplot.close``)."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
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
            marked = [m.expected_midi for m in self.missed] + [
                float(hz_to_midi(n.target_hz, a4_hz=self.a4_hz)) for n in self.notes
            ]
            if marked:
                lo_f, hi_f = min(lo_f, min(marked)), max(hi_f, max(marked))
            lo, hi = int(np.floor(lo_f)) - 1, int(np.ceil(hi_f)) + 1
            for m in range(lo, hi + 1):
                top.axhline(m, color="#e4e4e4", linewidth=0.6, zorder=0)
            step = max(1, (hi - lo) // 18 + 1)
            top.set_yticks(range(lo, hi + 1, step))
            flats = key_uses_flats(self.key)
            top.set_yticklabels(
                [note_name(m, lang, flats=flats) for m in range(lo, hi + 1, step)], fontsize=8
            )
            against_tune = self.score is not None and self.score.is_the_tune
            for n in self.notes:
                if against_tune and n.verdict == "extra":
                    continue  # drawn in orange by _plot_score
                bar = float(hz_to_midi(n.target_hz, a4_hz=self.a4_hz))
                top.plot([n.start_s, n.end_s], [bar, bar], color="#2ca02c", linewidth=4, alpha=0.35,
                         solid_capstyle="butt", zorder=1)  # fmt: skip
            self._plot_score(top)
            top.plot(self.times_s, midi_before, color="#999999", linewidth=1.1, label=_label(
                "before", self.mean_abs_cents_before, lang))  # fmt: skip
            top.plot(self.times_s, midi_after, color="#1f5fbf", linewidth=1.1, label=_label(
                "after", self.mean_abs_cents_after, lang))  # fmt: skip
            top.set_ylim(lo - 0.5, hi + 0.5)
            top.legend(loc="best", fontsize=8, framealpha=0.9)  # where it hides the fewest marks
            top.set_title(self._plot_title(lang), fontsize=9)

            bottom.axhspan(-5, 5, color="#2ca02c", alpha=0.12, linewidth=0)
            bottom.axhline(0, color="#2ca02c", linewidth=0.8)
            for midi, colour in ((midi_before, "#999999"), (midi_after, "#1f5fbf")):
                off = (midi - target) * 100
                # Glides into the next note leave the panel; don't draw them as walls.
                off[np.abs(off) > 55] = np.nan
                bottom.plot(self.times_s, off, color=colour, linewidth=1.1)
            bottom.set_ylim(-55, 55)
            bottom.set_yticks([-50, -25, 0, 25, 50])
            bottom.set_ylabel("отклонение, ц" if lang == "ru" else "cents off", fontsize=8)
            bottom.set_xlabel("время, с" if lang == "ru" else "time, s")
            from matplotlib.ticker import FuncFormatter

            # Ticks at 0.5 s steps on a short clip: «0,5» in Russian, not "0.5".
            bottom.xaxis.set_major_formatter(
                FuncFormatter(lambda x, _: number(x, lang, 2, trim=True))
            )
            end = float(self.times_s[-1]) if len(self.times_s) else 1.0
            bottom.set_xlim(0, max(self.duration_s, end))
            fig.tight_layout()
        except BaseException:
            plt.close(fig)
            raise
        return fig

    def _plot_title(self, lang: str) -> str:
        """What the colours mean, naming only the marks the picture holds."""
        ru = lang == "ru"
        sc = self.score
        if sc is None or not sc.is_the_tune:
            green = "зелёное — ноты, к которым подтянуто" if ru else "green: target notes"
            return f"{key_name(self.key, lang)}, {a4_text(self.a4_hz, lang)}; {green}"
        from core.score.describe import tune_phrase

        parts = ["зелёное — ноты мелодии" if ru else "green: the tune's notes"]
        if any(n.verdict == "wrong" for n in self.notes) or self.missed:
            parts.append("красное — не те (×) и пропущенные (пунктир) ноты" if ru
                         else "red: wrong (x) and missed (dashed) notes")  # fmt: skip
        if any(n.verdict == "extra" for n in self.notes):
            parts.append("оранжевое (+) — лишние" if ru else "orange (+): extra notes")
        # Two lines: a Russian tune name and its colour key overflow one at 1200 px.
        phrase = tune_phrase(sc.source, sc.title, lang)
        return f"{phrase[:1].upper()}{phrase[1:]}\n{', '.join(parts)}"

    def _plot_score(self, ax: Any) -> None:
        """The tune's wrong, missed and extra notes, marked so a child sees them at once: a
        red bar with an x where the score note was (a wrong note), a dashed red box with a "?"
        where a note was skipped, an orange bar with a "+" over a note the tune does not have."""
        if self.score is None or not self.score.is_the_tune:
            return
        from matplotlib.patches import Rectangle

        from models.units import note_name_to_midi

        for n in self.notes:
            if n.verdict != "wrong" or n.expected is None:
                continue
            want = note_name_to_midi(n.expected)
            ax.plot([n.start_s, n.end_s], [want, want], color="#d62728", linewidth=4, alpha=0.6,
                    solid_capstyle="butt", zorder=2)  # fmt: skip
            ax.plot([(n.start_s + n.end_s) / 2], [want], marker="x", color="#d62728",
                    markersize=9, markeredgewidth=2.5, zorder=4)  # fmt: skip
        for n in self.notes:
            if n.verdict != "extra":
                continue
            sung = float(hz_to_midi(n.target_hz, a4_hz=self.a4_hz))
            ax.plot([n.start_s, n.end_s], [sung, sung], color=_EXTRA_COLOUR, linewidth=4,
                    alpha=0.7, solid_capstyle="butt", zorder=2)  # fmt: skip
            ax.text((n.start_s + n.end_s) / 2, sung + 0.55, "+", color=_EXTRA_COLOUR, fontsize=11,
                    ha="center", va="center", fontweight="bold", zorder=4)  # fmt: skip
        for m in self.missed:
            length = max(m.duration_s, 0.15)
            ax.add_patch(
                Rectangle((m.at_s, m.expected_midi - 0.35), length, 0.7, fill=False,
                          edgecolor="#d62728", linestyle="--", linewidth=1.6, zorder=3)
            )  # fmt: skip
            ax.text(m.at_s + length / 2, m.expected_midi, "?", color="#d62728", fontsize=10,
                    ha="center", va="center", fontweight="bold", zorder=4)  # fmt: skip


def _beats(sc: ScoreReport, index: int) -> float:
    """How long the score note is (beats): a long note heard wrong matters more."""
    if 0 <= index < len(sc.durations_beats):
        return min(sc.durations_beats[index], 4.0) / 4.0
    return 0.0


def _note_label(sc: ScoreReport, index: int, lang: str) -> str:
    """'Note 7 (bar 2): ' -- numbered as a teacher counts them, from 1."""
    bar = sc.bars[index] if 0 <= index < len(sc.bars) else None
    if lang == "ru":
        return f"Нота {index + 1}" + (f" (такт {bar})" if bar is not None else "") + ": "
    return f"Note {index + 1}" + (f" (bar {bar})" if bar is not None else "") + ": "


def _tune_line(sc: ScoreReport, title: str | None, lang: str) -> str:
    """The tune, and how it was played: octave, tempo. ``title`` None: typed notes, which have
    no name of their own (never the internal source name)."""
    shift = sc.transposition_semitones
    octaves = shift // 12 if shift % 12 == 0 else None
    if lang == "ru":
        where = ""
        if octaves:
            word = "выше" if octaves > 0 else "ниже"
            count = abs(octaves)
            where = f", на {count} {ru_plural(count, 'октаву', 'октавы', 'октав')} {word}"
        elif shift and octaves is None:
            semitones = ru_plural(shift, "полутон", "полутона", "полутонов")
            where = f", транспозиция {shift:+d} {semitones}"
        head = f"Мелодия: «{title}»" if title else "Мелодия, набранная нотами"
        if not sc.timed:  # no lengths written: no tempo to compare with
            return f"{head}{where}."
        return f"{head}{where}, темп {number(sc.tempo_ratio, lang, 2)} от записанного."
    where = ""
    if octaves:
        where = f", {abs(octaves)} octave{'s' if abs(octaves) > 1 else ''} " + (
            "higher" if octaves > 0 else "lower"
        )
    elif shift and octaves is None:
        where = f", transposed {shift:+d} semitones"
    head = f'Tune: "{title}"' if title else "The tune you typed"
    if not sc.timed:
        return f"{head}{where}."
    return f"{head}{where}, at {sc.tempo_ratio:.2f}x the written tempo."


def _label(which: str, cents: float, lang: str) -> str:
    if lang == "ru":
        word = "до" if which == "before" else "после"
        return f"{word}: в среднем {number(cents, lang, 0)} ц мимо"
    return f"{which}: mean {_cents_en(cents)} off"


def _note(name: str | None, lang: str, flats: bool, *, long: bool = False) -> str:
    """A stored Latin name ("E4") as the learner reads it; one that is no note stays as is."""
    if name is None:
        return "?"
    try:
        return note_name(name, lang, long=long, flats=flats)
    except ValueError:
        return name


_CENTS_WORD = {"ru": re.compile(r"\d ц\b"), "en": re.compile(r"\d cents?\b")}


def _explain_cents(lines: list[str], lang: str) -> list[str]:
    """The first line that shows cents says what a cent is, whichever line that is."""
    for i, line in enumerate(lines):
        if _CENTS_WORD[lang].search(line):
            end = "." if line.endswith(".") else ""
            body = line[: len(line) - len(end)]
            return [*lines[:i], f"{body} ({CENTS_EXPLAINED[lang]}){end}", *lines[i + 1 :]]
    return lines


def _cents_en(cents: float) -> str:
    return "1 cent" if round(cents) == 1 else f"{cents:.0f} cents"


def _mean_abs(values: list[float], notes: list[NoteReport]) -> float:
    """Duration-weighted mean of |cents|: a long sour note matters more than a grace note."""
    if not values:
        return 0.0
    weights = np.array([max(n.end_s - n.start_s, 1e-3) for n in notes])
    return float(np.average(np.abs(np.asarray(values)), weights=weights))


# ----------------------------------------------------------------------------------------------
# Assembly: the report from the plan and what the output measured


def build_report(
    plan: Plan,
    f0_after: npt.NDArray[np.float64],
    n_samples: int,
    sample_rate: int,
    options: CorrectOptions,
) -> Report:
    """The report from the output's measured fundamental per frame (``f0_after``)."""
    track = plan.track
    moved_cents = 1200.0 * np.log2(f0_after / plan.f0_measured_hz)
    # The plot shows the tracker's pitch moved by what the shifter measurably did.
    shown_after = track.f0_hz * np.power(2.0, np.nan_to_num(moved_cents) / 1200.0)
    note_reports = []
    off_key = set(plan.off_key)
    matches = {m.performed_index: m for m in plan.alignment.matches} if plan.alignment else {}
    for k, t in enumerate(plan.targets):
        steady = moved_cents[t.note.steady_start : t.note.steady_end]
        steady = steady[np.isfinite(steady)]
        moved = float(np.median(steady)) if t.shift_cents != 0.0 and len(steady) else 0.0
        # "Before" is the intonation of what was played: a wrong note moved onto its score
        # note was this far from the note the learner played, and "after" from the score note.
        before = t.cents_before + 100.0 * t.semitones
        match = matches.get(k)
        score_midi = match.expected_midi if match is not None else None
        note_reports.append(
            NoteReport(
                start_s=t.note.start_s,
                end_s=t.note.end_s,
                name=midi_to_note_name(t.target_midi),
                target_hz=float(midi_to_hz(t.target_midi, a4_hz=plan.a4_hz)),
                cents_before=before,
                cents_after=before + moved - 100.0 * t.semitones,
                vibrato_cents=t.note.vibrato_cents,
                score_index=match.score_index if match is not None else None,
                expected=midi_to_note_name(score_midi) if score_midi is not None else None,
                verdict=match.verdict if match is not None else None,
                onset_error_s=match.onset_error_s if match is not None else None,
                played=midi_to_note_name(t.target_midi - t.semitones) if match else None,
                off_key=k in off_key,
            )
        )
    missed, against_tune = score_report(plan, options)
    return Report(
        notes=note_reports,
        key=plan.key.name,
        key_detected=plan.key_detected,
        a4_hz=plan.a4_hz,
        a4_estimated=options.a4_hz is None,
        mode=options.mode,
        duration_s=n_samples / sample_rate,
        times_s=track.times_s,
        f0_before_hz=track.f0_hz,
        f0_after_hz=shown_after,
        missed=missed,
        score=against_tune,
        harmonicity_db=track.harmonicity_db if np.isfinite(track.harmonicity_db) else None,
        noisy_recording=track.noisy,
    )


def score_report(
    plan: Plan, options: CorrectOptions
) -> tuple[list[MissedReport], ScoreReport | None]:
    """The take against its tune, for report.json and the teacher's lines of the text."""
    score, al = options.score, plan.alignment
    if score is None or al is None:
        return [], None
    from core.score.align import timing_flags

    spb = al.seconds_per_beat(score)
    missed = [
        MissedReport(
            score_index=m.score_index,
            expected=midi_to_note_name(m.expected_midi),
            at_s=m.at_s,
            expected_midi=m.expected_midi,
            duration_s=score.notes[m.score_index].duration_beats * spb,
        )
        for m in al.missed
    ]
    report = ScoreReport(
        source=score.source,
        notes=len(score.notes),
        transposition_semitones=al.transposition_semitones,
        tempo_ratio=al.tempo_ratio,
        matched=al.n_ok + al.n_wrong,
        wrong=al.n_wrong,
        missed=len(al.missed),
        extra=al.n_extra,
        is_the_tune=al.is_the_tune,
        title=score.title,
        bars=tuple(n.bar if score.has_meter else None for n in score.notes),
        seconds_per_beat=spb,
        timing=tuple(
            (m.score_index, round(beats, 2))
            for m, beats in timing_flags(al, score)
            if m.score_index is not None
        ),
        durations_beats=tuple(n.duration_beats for n in score.notes),
        timed=score.timed,
    )
    return missed, report
