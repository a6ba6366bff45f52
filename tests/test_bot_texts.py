"""Every failure code has words in both languages, and the words fit their placeholders."""

from __future__ import annotations

import string

import pytest

from bot.texts import PIPELINE_STAGE_KEYS, TEXTS, error_key, t
from core.errors import INPUT_ERROR_CODES, ProcessingError


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", [*INPUT_ERROR_CODES, ProcessingError.code])
def test_every_error_code_has_its_own_message(code: str) -> None:
    assert error_key(code) == f"error_{code}"
    assert t(error_key(code), "ru") != t(error_key(code), "en")


def test_input_error_messages_are_distinct() -> None:
    for lang in ("ru", "en"):
        texts = [t(error_key(code), lang) for code in INPUT_ERROR_CODES]
        assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_both_languages_with_the_same_placeholders(key: str) -> None:
    entry = TEXTS[key]
    assert set(entry) == {"ru", "en"}
    assert _fields(entry["ru"]) == _fields(entry["en"])
    assert entry["ru"].strip() and entry["en"].strip()


def test_russian_is_the_default_and_unknown_languages_fall_back_to_it() -> None:
    assert t("queued", position=3) == t("queued", "ru", position=3)
    assert t("queued", "de", position=3) == t("queued", "ru", position=3)
    assert "3" in t("queued", "en", position=3) and "queue" in t("queued", "en", position=3)


def test_missing_fact_stays_visible_instead_of_crashing() -> None:
    assert "{position}" in t("queued", "en")


def test_unknown_code_gets_the_generic_message() -> None:
    assert error_key("brand_new_code") == "error_bad_input"


def test_video_hint_explains_send_as_file() -> None:
    assert "paperclip" in t("video_hint", "en") and "File" in t("video_hint", "en")
    assert "скрепка" in t("video_hint", "ru") and "Файл" in t("video_hint", "ru")


def test_pipeline_stages_map_to_progress_messages() -> None:
    for stage in ("decoding", "analysing", "retuning", "encoding"):
        assert PIPELINE_STAGE_KEYS[stage] in TEXTS
    for key in ("stage_downloading", "stage_analysing", "stage_retuning", "stage_uploading"):
        assert key in TEXTS


def test_help_lists_every_command() -> None:
    for lang in ("ru", "en"):
        for command in ("/status", "/cancel", "/settings", "/key", "/a4", "/mode", "/lang"):
            assert command in t("help", lang)
