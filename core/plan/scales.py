"""Keys, scales, the A4 reference and instrument ranges: which notes a melody may land on.

A target note is "the nearest allowed note", so this module answers two questions: which pitch
classes are allowed (a key and a scale, named by the user or detected from the pitch histogram),
and where they sit in Hz (the A4 reference, 440 Hz unless set or estimated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.notation import INSTRUMENTS_RU, SCALES_RU
from core.plan import tables
from models.units import A4_HZ, NOTE_NAMES_SHARP, note_name_to_midi, pitch_class

# Krumhansl-Kessler key profiles (probe-tone ratings), the classic histogram key finder's
# templates; index 0 is the tonic.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
FIT_OVER_PROFILE = 0.25  # weight of the profile correlation against the share of notes in key


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a scale name from data/scales.csv."""

    tonic_pc: int
    scale: str = "major"

    @property
    def pitch_classes(self) -> frozenset[int]:
        degrees = tables.scale_degrees()[self.scale]
        return frozenset((self.tonic_pc + d) % 12 for d in degrees)

    @property
    def name(self) -> str:
        """'D major', 'A harmonic_minor'..."""
        return f"{NOTE_NAMES_SHARP[self.tonic_pc]} {self.scale}"

    def allowed_mask(self) -> npt.NDArray[np.bool_]:
        """``mask[pc]`` is True when pitch class ``pc`` belongs to the key."""
        mask = np.zeros(12, dtype=bool)
        mask[list(self.pitch_classes)] = True
        return mask


CHROMATIC = Key(0, "chromatic")


def scale_names() -> tuple[str, ...]:
    return tuple(tables.scale_degrees())


# Russian and English words for keys, scales and instruments: a learner writes «ре минор»,
# «фа-диез минор», «си-бемоль мажор», "B flat major", "d-moll" as readily as "Dm". Read here
# only, so the bot's /key and the CLI's --key accept the same words.
_SOLFEGE_TONICS = {"до": "C", "ре": "D", "ми": "E", "фа": "F", "соль": "G", "ля": "A", "си": "B"}
_ACCIDENTAL_WORDS = {
    "#": "#", "♯": "#", "диез": "#", "sharp": "#",
    "b": "b", "♭": "b", "бемоль": "b", "flat": "b",
}  # fmt: skip
_TONIC = re.compile(
    r"(?P<name>соль|до|ре|ми|фа|ля|си|[a-g])(?P<acc>диез|бемоль|#|♯|♭|b)?(?P<minor>m)?"
)
# The names the bot shows (core.notation) read back, and the other ways a learner says them.
_SCALE_WORDS = {words: scale for scale, words in SCALES_RU.items()} | {
    "мажорная": "major",
    "dur": "major",
    "минорная": "minor",
    "moll": "minor",
    "дорийский": "dorian",
    "миксолидийский": "mixolydian",
    "блюз": "blues",
    "блюзовая": "blues",
    "хроматическая": "chromatic",
    "хроматика": "chromatic",
}
_INSTRUMENT_WORDS = {word: name for name, word in INSTRUMENTS_RU.items()} | {
    "вокал": "voice",
    "пение": "voice",
    "сакс": "saxophone",
}


def _words(text: str) -> list[str]:
    """Lower case, ё as е, and hyphens and underscores as spaces: «фа-диез» is «фа диез»."""
    text = text.strip().lower().replace("ё", "е")
    return re.sub(r"[-_]", " ", text).split()


def split_key(text: str) -> tuple[str, str | None]:
    """A key as written, in Latin or Russian: its tonic spelled in Latin and the scale it names.

    ``"ре минор"`` -> ("D", "minor"); ``"фа-диез минор"`` -> ("F#", "minor");
    ``"си-бемоль мажор"`` -> ("Bb", "major"); ``"F#m"`` -> ("F#", "minor"); ``"Bb"`` ->
    ("Bb", None): no scale named. The spelling is kept (Bb, not A#) because the learner reads
    it back in their settings.

    Raises:
        ValueError: no tonic, or words that name no scale; the message says what is accepted.
    """
    words = _words(text)
    if _SCALE_WORDS.get(" ".join(words)) == "chromatic" or words == ["chromatic"]:
        return "C", "chromatic"  # every note: the tonic says nothing, and none is written
    match = _TONIC.fullmatch(words[0]) if words else None
    if match is None:
        raise ValueError(f"unknown key {text!r}; write a tonic like D, Bb, F#m or «ре минор»")
    name = match["name"]
    tonic = _SOLFEGE_TONICS.get(name, name.upper())
    accidental = _ACCIDENTAL_WORDS.get(match["acc"] or "", "")
    rest = words[1:]
    if not accidental and rest and rest[0] in _ACCIDENTAL_WORDS:
        accidental, rest = _ACCIDENTAL_WORDS[rest[0]], rest[1:]
    tonic += accidental
    if match["minor"]:
        if rest:
            raise ValueError(f"unknown key {text!r}: 'm' already says minor")
        return tonic, "minor"
    if not rest:
        return tonic, None
    phrase = " ".join(rest)
    scale = _SCALE_WORDS.get(phrase) or "_".join(rest)
    if scale not in scale_names():
        raise ValueError(f"unknown scale {phrase!r}; choose one of {', '.join(scale_names())}")
    return tonic, scale


def parse_key(key: str | None, scale: str | None = None) -> Key | None:
    """'D' + 'minor' -> D minor; 'F#m' or «фа-диез минор» -> F# minor; None -> None (detect).

    A scale the key's own words name wins over ``scale``: ``--key "ре минор"`` means D minor
    whatever ``--scale`` defaults to.

    Raises:
        ValueError: unknown tonic or scale; the message names the accepted values.
    """
    known = scale_names()
    if scale is not None and scale not in known:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(known)}")
    if key is None:
        return None
    tonic, implied = split_key(key)
    return Key(pitch_class(tonic), implied or scale or "major")


def instrument_by_word(word: str) -> str:
    """The preset of data/instruments.csv a learner means: ``"скрипка"`` or ``"violin"``.

    Raises:
        ValueError: neither a preset nor a Russian name of one.
    """
    text = " ".join(_words(word))
    name = _INSTRUMENT_WORDS.get(text, text)
    if name not in instrument_names():
        raise ValueError(
            f"unknown instrument {word!r}; choose one of {', '.join(instrument_names())}"
        )
    return name


def detect_key(
    midi: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    scale: str | None = None,
) -> Key:
    """Key whose profile correlates best with the duration-weighted pitch-class histogram.

    Args:
        midi: fractional MIDI numbers of the notes (or frames), NaN ignored.
        weights: how much each counts (note durations in seconds); equal when None.
        scale: only consider this scale (tonic detection only); None compares major and minor.
    """
    values = np.asarray(midi, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(values) & np.isfinite(w)
    histogram = np.bincount(
        np.round(values[keep]).astype(int) % 12, weights=w[keep], minlength=12
    ).astype(np.float64)
    if scale is None or scale in ("major", "minor", "natural_minor"):
        candidates = {"major": _KK_MAJOR, "minor": _KK_MINOR}
        if scale is not None:
            candidates = {scale: _KK_MINOR if "minor" in scale else _KK_MAJOR}
    else:
        # Other scales have no published profile; a flat template over their degrees does the job.
        template = np.full(12, 1.0)
        template[list(tables.scale_degrees()[scale])] = 3.0
        candidates = {scale: template}
    best = CHROMATIC
    best_score = -np.inf
    if histogram.sum() <= 0:
        return Key(0, scale or "major")
    total = histogram.sum()
    for name, profile in candidates.items():
        degrees = tables.scale_degrees()[name]
        for tonic in range(12):
            rotated = np.roll(profile, tonic)
            corr = float(np.corrcoef(histogram, rotated)[0, 1]) if histogram.std() > 0 else 0.0
            # First: how much of the melody the key's notes cover (a key that leaves a played
            # note out is a worse guess, whatever the profile says); then the profile.
            fit = sum(histogram[(tonic + d) % 12] for d in degrees) / total
            score = fit + FIT_OVER_PROFILE * corr
            if score > best_score:
                best, best_score = Key(tonic, name), score
    return best


def estimate_a4(f0_hz: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> float:
    """A4 (Hz) that puts the played pitches closest to equal-tempered notes.

    Why a circular mean: cents-off-nearest wraps at +-50, so a plain mean of a band that plays
    45 cents sharp (half its frames read as -55 -> +45, half as -45) would come out near 0. The
    mean angle on the 100-cent circle is the offset everyone shares.
    """
    f = np.asarray(f0_hz, dtype=np.float64)
    w = np.ones_like(f) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(f) & (f > 0) & np.isfinite(w)
    if not keep.any():
        return A4_HZ
    cents = 1200.0 * np.log2(f[keep] / A4_HZ)
    angle = 2.0 * np.pi * cents / 100.0
    mean = np.sum(w[keep] * np.exp(1j * angle))
    offset_cents = float(np.angle(mean) / (2.0 * np.pi) * 100.0)
    return float(A4_HZ * 2.0 ** (offset_cents / 1200.0))


def instrument_range(name: str) -> tuple[int, int]:
    """Lowest and highest playable MIDI note of an instrument preset in data/instruments.csv."""
    presets = tables.instrument_notes()
    notes = presets.get(name.strip().lower())
    if notes is None:
        known = ", ".join(presets)
        raise ValueError(f"unknown instrument {name!r}; choose one of {known}")
    return note_name_to_midi(notes[0]), note_name_to_midi(notes[1])


def instrument_names() -> tuple[str, ...]:
    return tuple(tables.instrument_notes())


def nearest_allowed_midi(
    midi: float,
    allowed: npt.NDArray[np.bool_],
    *,
    previous: int | None = None,
    hysteresis_cents: float = 0.0,
    preferred: npt.NDArray[np.bool_] | None = None,
    prefer_cents: float = 0.0,
) -> int:
    """The allowed note nearest to ``midi``, with two tie-breakers near a midpoint.

    Args:
        midi: fractional MIDI number (at the chosen A4) of a note's centre.
        allowed: ``[12]`` mask of allowed pitch classes.
        previous: the target chosen for the previous note, kept while ``midi`` is within
            ``hysteresis_cents`` past the midpoint, so a note hovering between two notes
            does not flip from one take of it to the next.
        preferred: ``[12]`` mask of pitch classes preferred within ``prefer_cents`` of a
            midpoint (the detected key's notes when the user named no key).
    """
    span = range(int(np.floor(midi)) - 12, int(np.ceil(midi)) + 13)
    candidates = [m for m in span if allowed[m % 12]]
    if not candidates:
        return round(midi)

    def distance(m: int) -> float:
        d = abs(m - midi) * 100.0
        # Both distances change as the note crosses the midpoint, so a head start of 2x
        # holds a candidate until the note is x cents past the midpoint.
        if previous is not None and m == previous:
            d -= 2.0 * hysteresis_cents
        if preferred is not None and preferred[m % 12]:
            d -= 2.0 * prefer_cents
        return d

    return min(candidates, key=distance)
