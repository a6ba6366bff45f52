"""How notes, keys, instruments and numbers are written for the learner, in Russian or English.

One place, because a Russian music-school child reads «ми¹» and «ми первой октавы», never "E4",
and a reply that mixes the two makes them doubt the whole check. English keeps the Latin
names (scientific pitch: C4 is middle C). Pure string work, no numpy, no torch: the report, the
picture, the tune's description and the bot all write through here.

Russian octaves (C4 = до первой октавы; the names are the ones a solfège textbook uses):
субконтроктава, контроктава, большая, малая, первая, вторая, третья, четвёртая, пятая.
The compact form marks the first octave and up with a superscript digit (ми¹, до², ля³) and
names the octaves below the first in a word (ля малой, ми большой), so a mark is never left
off: a bare «ля» would read as "some A", which the learner types when they mean no octave.
"""

from __future__ import annotations

import re

from models.units import note_name_to_midi

LANGS = ("ru", "en")

_LATIN_SHARP = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LATIN_FLAT = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_SOLFEGE = ("до", "ре", "ми", "фа", "соль", "ля", "си")
# pitch class -> (letter step 0..6, accidental -1/0/+1), sharp and flat spellings
_SHARP_STEPS = ((0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1), (4, 0), (4, 1), (5, 0),
                (5, 1), (6, 0))  # fmt: skip
_FLAT_STEPS = ((0, 0), (1, -1), (1, 0), (2, -1), (2, 0), (3, 0), (4, -1), (4, 0), (5, -1),
               (5, 0), (6, -1), (6, 0))  # fmt: skip
_LONG_ACCIDENTAL = {1: "-диез", -1: "-бемоль", 0: ""}
_SHORT_ACCIDENTAL = {1: "♯", -1: "♭", 0: ""}

# Scientific octave number -> the Russian octave, in the genitive («ми первой октавы»).
OCTAVES_RU: dict[int, str] = {
    0: "субконтроктавы",
    1: "контроктавы",
    2: "большой октавы",
    3: "малой октавы",
    4: "первой октавы",
    5: "второй октавы",
    6: "третьей октавы",
    7: "четвёртой октавы",
    8: "пятой октавы",
}
# Below the first octave the compact form keeps the word (see the module docstring).
_SHORT_LOW_RU = {0: "субконтроктавы", 1: "контроктавы", 2: "большой", 3: "малой"}
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

# Tonic spelling of a key named by its pitch class: the spelling a key signature uses.
_MAJOR_FLAT_TONICS = frozenset({1, 3, 5, 8, 10})  # D♭ E♭ F A♭ B♭ major
_MINOR_FLAT_TONICS = frozenset({0, 2, 5, 7, 10})  # C D F G B♭ minor (flats in the signature)

SCALES_RU: dict[str, str] = {
    "major": "мажор",
    "minor": "минор",
    "natural_minor": "натуральный минор",
    "harmonic_minor": "гармонический минор",
    "melodic_minor": "мелодический минор",
    "dorian": "дорийский лад",
    "mixolydian": "миксолидийский лад",
    "major_pentatonic": "мажорная пентатоника",
    "minor_pentatonic": "минорная пентатоника",
    "blues": "блюзовая гамма",
    "chromatic": "хроматическая гамма",
}
_TONICLESS_SCALES = frozenset({"chromatic"})  # every note: the tonic says nothing

# data/instruments.csv's names, as a Russian teacher says them.
INSTRUMENTS_RU: dict[str, str] = {
    "voice": "голос",
    "flute": "флейта",
    "recorder": "блокфлейта",
    "violin": "скрипка",
    "cello": "виолончель",
    "clarinet": "кларнет",
    "trumpet": "труба",
    "saxophone": "саксофон",
    "oboe": "гобой",
}

# The first time a reply shows «ц», it says what a cent is; /help says it once too.
CENTS_EXPLAINED = {
    "ru": "ц — центы, сотые доли полутона",
    "en": "a cent is a hundredth of a semitone",
}

_NAME_RE = re.compile(r"^[A-Ga-g][#b♯♭]?-?\d+$")


def _check(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")


def _midi_of(note: int | float | str) -> int:
    if isinstance(note, str):
        return note_name_to_midi(note)
    return round(float(note))


def note_name(
    note: int | float | str, lang: str, *, long: bool = False, flats: bool = False
) -> str:
    """A note as the learner reads it: 64 or "E4" -> «ми¹» (``long``: «ми первой октавы»),
    "E4" in English. ``flats`` spells black keys as flats (a key with flats in its
    signature): «си♭ малой», "Bb3"."""
    _check(lang)
    midi = _midi_of(note)
    pc, octave = midi % 12, midi // 12 - 1
    if lang == "en":
        return f"{(_LATIN_FLAT if flats else _LATIN_SHARP)[pc]}{octave}"
    step, accidental = (_FLAT_STEPS if flats else _SHARP_STEPS)[pc]
    syllable = _SOLFEGE[step]
    if long:
        where = OCTAVES_RU.get(octave, f"октавы {octave}")
        return f"{syllable}{_LONG_ACCIDENTAL[accidental]} {where}"
    mark = _SHORT_ACCIDENTAL[accidental]
    if octave >= 4:
        return f"{syllable}{mark}{str(octave - 3).translate(_SUPERSCRIPT)}"
    return f"{syllable}{mark} {_SHORT_LOW_RU.get(octave, f'октавы {octave}')}"


def is_note_name(text: str) -> bool:
    """Whether ``text`` is a Latin note name such as "E4" or "F#3" (what stays in report.json)."""
    return bool(_NAME_RE.match(text.strip()))


def tonic_name(tonic: int | str, lang: str, *, scale: str = "major") -> str:
    """A key's tonic without an octave: 6 -> «фа-диез»; "Bb" -> «си-бемоль»; "Bb" in English.

    A pitch class (what the key finder gives) is spelled as the key signature spells it
    (10 major -> си-бемоль, not ля-диез); a name the learner typed keeps its spelling.
    """
    _check(lang)
    if isinstance(tonic, int):
        flat_tonics = _MINOR_FLAT_TONICS if "minor" in scale else _MAJOR_FLAT_TONICS
        flats = tonic % 12 in flat_tonics
        pc = tonic % 12
    else:
        text = tonic.strip().replace("♯", "#").replace("♭", "b")
        pc = note_name_to_midi(text[0].upper() + text[1:] + "4") % 12
        flats = text.endswith("b") and len(text) > 1
    if lang == "en":
        return (_LATIN_FLAT if flats else _LATIN_SHARP)[pc]
    step, accidental = (_FLAT_STEPS if flats else _SHARP_STEPS)[pc]
    return f"{_SOLFEGE[step]}{_LONG_ACCIDENTAL[accidental]}"


def key_name(key: str, lang: str, *, respell: bool = True) -> str:
    """A key as ``core.plan.scales.Key.name`` or the settings write it ("A# major",
    "F# minor", "C harmonic_minor") -> «си-бемоль мажор», «фа-диез минор», «до гармонический
    минор»; English: "Bb major". A sharp-spelled tonic from the key finder is respelled the way
    the key signature writes it; a flat the learner typed stays a flat, and ``respell=False``
    keeps any spelling as typed (the settings show what the learner wrote: «до-диез мажор»)."""
    _check(lang)
    tonic, _, scale = key.strip().partition(" ")
    scale = scale.strip().replace(" ", "_") or "major"
    try:
        pc = note_name_to_midi(tonic[0].upper() + tonic[1:].replace("♯", "#").replace("♭", "b")
                               + "4") % 12  # fmt: skip
    except (ValueError, IndexError):
        return key.replace("_", " ")
    typed_flat = "b" in tonic[1:] or "♭" in tonic
    spelled: int | str = tonic if typed_flat or not respell else pc
    if lang == "en":
        if scale in _TONICLESS_SCALES:
            return scale.replace("_", " ")
        return f"{tonic_name(spelled, lang, scale=scale)} {scale.replace('_', ' ')}"
    words = SCALES_RU.get(scale, scale.replace("_", " "))
    if scale in _TONICLESS_SCALES:
        return words
    return f"{tonic_name(spelled, lang, scale=scale)} {words}"


def key_uses_flats(key: str) -> bool:
    """Whether notes in ``key`` ("F major", "D minor") are best spelled with flats."""
    tonic, _, scale = key.strip().partition(" ")
    try:
        pc = note_name_to_midi(tonic[0].upper() + tonic[1:] + "4") % 12
    except (ValueError, IndexError):
        return False
    if "b" in tonic[1:]:
        return True
    if "#" in tonic:
        return False
    return pc in (_MINOR_FLAT_TONICS if "minor" in scale else _MAJOR_FLAT_TONICS)


def instrument_name(name: str, lang: str) -> str:
    """data/instruments.csv's name as the learner says it: "flute" -> «флейта» in Russian."""
    _check(lang)
    return INSTRUMENTS_RU.get(name, name) if lang == "ru" else name


def number(x: float, lang: str, digits: int = 1, *, trim: bool = False) -> str:
    """``x`` with ``digits`` decimals, a comma in Russian (8.4 -> «8,4»); ``trim`` drops a
    fraction of zeros (440.0 -> «440», 442.5 -> «442,5»)."""
    _check(lang)
    text = f"{x:.{digits}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", "-0.0") or re.fullmatch(r"-0\.0+", text):
        text = text[1:]
    return text.replace(".", ",") if lang == "ru" else text


def signed(x: float, lang: str, digits: int = 0) -> str:
    """``x`` with its sign always shown (+12, -7), a comma in Russian."""
    text = number(x, lang, digits)
    return text if text.startswith("-") else "+" + text


def a4_text(a4_hz: float, lang: str) -> str:
    """The tuning reference: «ля первой октавы = 440 Гц», "A4 = 440 Hz"."""
    hz = number(a4_hz, lang, 1, trim=True)
    return f"ля первой октавы = {hz} Гц" if lang == "ru" else f"A4 = {hz} Hz"


def ru_plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian noun form for ``n``: 1 нота, 2 ноты, 5 нот, 21 нота."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many
