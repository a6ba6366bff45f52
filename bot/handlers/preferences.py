"""The learner's settings: /settings, /key, /a4, /mode, /instrument, /lang.

Each command checks its value, saves the new settings and answers with all of them, so the
learner always sees what the next clip will be corrected with.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from vkbottle.bot import BotLabeler, Message

from bot.context import BotContext
from bot.handlers.replies import reply
from bot.handlers.tunes import tune_line
from bot.prefs import LANGUAGES, MODES, UserPrefs
from bot.rules import CommandRule
from bot.texts import t

A4_RANGE_HZ = (400.0, 480.0)
AUTO_WORDS = ("auto", "авто", "автоматически", "сам", "")
# The words a learner may answer with, Russian beside English: the bot itself shows
# «естественный» and «жёсткий», so it must take them back.
MODE_WORDS = {
    "natural": "natural",
    "soft": "natural",
    "естественный": "natural",
    "естественная": "natural",
    "мягкий": "natural",
    "мягкая": "natural",
    "hard": "hard",
    "жесткий": "hard",
    "жесткая": "hard",
    "строгий": "hard",
}
LANG_WORDS = {
    "ru": "ru",
    "rus": "ru",
    "russian": "ru",
    "ру": "ru",
    "рус": "ru",
    "русский": "ru",
    "en": "en",
    "eng": "en",
    "english": "en",
    "англ": "en",
    "английский": "en",
}


def _word(args: str) -> str:
    """The value as one lower-case word, ё read as е (a child types either)."""
    return " ".join(args.strip().lower().replace("ё", "е").split())


def parse_key_words(args: str) -> tuple[str | None, str | None]:
    """``"F# minor"`` or «фа-диез минор» -> ("F#", "minor"); ``"auto"`` -> (None, None).

    Raises:
        ValueError: a tonic or scale core.plan.scales does not know.
    """
    if _word(args) in AUTO_WORDS:
        return None, None
    from core.plan.scales import parse_key, split_key

    tonic, _ = split_key(args)
    key = parse_key(args)
    assert key is not None
    return tonic, key.scale


def describe(prefs: UserPrefs) -> str:
    """All the settings in the learner's words: «фа-диез минор», «ля первой октавы = 440 Гц»,
    «флейта» (the stored values are the Latin ones the pipeline takes)."""
    from core.notation import a4_text, instrument_name, key_name

    lang = prefs.lang
    typed = f"{prefs.key} {prefs.scale or 'major'}"
    key = key_name(typed, lang, respell=False) if prefs.key else t("auto", lang)
    return t(
        "settings_show",
        lang,
        key=key,
        a4=t("a4_auto", lang) if prefs.a4_hz is None else a4_text(prefs.a4_hz, lang),
        mode=t(f"mode_{prefs.mode}", lang),
        instrument=instrument_name(prefs.instrument, lang) if prefs.instrument else t("auto", lang),
        lang=t("language_name", lang),
        tune=tune_line(prefs),
        fixwrong=t("yes" if prefs.fix_wrong_notes else "no", lang),
    )


def make_labeler(ctx: BotContext) -> BotLabeler:
    labeler = BotLabeler()

    async def save(message: Message, prefs: UserPrefs) -> None:
        await asyncio.to_thread(ctx.prefs.put, message.from_id, prefs)
        await reply(
            message, t("settings_saved", prefs.lang) + "\n\n" + describe(prefs), purpose="saved"
        )

    @labeler.message(CommandRule("settings", "настройки"))
    async def show_settings(message: Message, args: str) -> None:
        await reply(message, describe(await ctx.prefs_of(message.from_id)), purpose="settings")

    @labeler.message(CommandRule("key", "тональность"))
    async def set_key(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        try:
            tonic, scale = parse_key_words(args)
        except (ValueError, IndexError):
            await reply(message, t("settings_invalid_key", prefs.lang), purpose="invalid")
            return
        await save(message, replace(prefs, key=tonic, scale=scale))

    @labeler.message(CommandRule("a4", "ля", "строй"))
    async def set_a4(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        word = _word(args)
        if word in AUTO_WORDS or word == "по записи":
            await save(message, replace(prefs, a4_hz=None))
            return
        try:
            number = word.replace(",", ".").removesuffix("hz").removesuffix("гц")
            a4_hz = float(number.strip())
        except ValueError:
            a4_hz = -1.0
        if not A4_RANGE_HZ[0] <= a4_hz <= A4_RANGE_HZ[1]:
            await reply(message, t("settings_invalid_a4", prefs.lang), purpose="invalid")
            return
        await save(message, replace(prefs, a4_hz=a4_hz))

    @labeler.message(CommandRule("mode", "режим"))
    async def set_mode(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        mode = MODE_WORDS.get(_word(args), "")
        if mode not in MODES:
            await reply(message, t("settings_invalid_mode", prefs.lang), purpose="invalid")
            return
        await save(message, replace(prefs, mode=mode))

    @labeler.message(CommandRule("instrument", "инструмент"))
    async def set_instrument(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        if _word(args) in AUTO_WORDS:
            await save(message, replace(prefs, instrument=None))
            return
        from core.plan.scales import instrument_by_word

        try:
            name = instrument_by_word(args)
        except ValueError:
            await reply(message, t("settings_invalid_instrument", prefs.lang), purpose="invalid")
            return
        await save(message, replace(prefs, instrument=name))

    @labeler.message(CommandRule("lang", "language", "язык"))
    async def set_lang(message: Message, args: str) -> None:
        prefs = await ctx.prefs_of(message.from_id)
        lang = LANG_WORDS.get(_word(args), "")
        if lang not in LANGUAGES:
            await reply(message, t("settings_invalid_lang", prefs.lang), purpose="invalid")
            return
        await save(message, replace(prefs, lang=lang))

    return labeler
