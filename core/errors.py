"""Typed failures with stable codes.

Every rejected input maps to exactly one ``code``; bot/texts.py and the CLI turn the code into
the sentence a user reads, so the wording lives in one place and tests can assert on codes.
"""

from __future__ import annotations


class SmaskError(Exception):
    """Base of every error this project raises on purpose."""

    code: str = "internal"

    def __init__(self, detail: str = "", **facts: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        # Facts a message may quote (limits, durations...). Never file contents or tokens.
        self.facts = facts


class InputError(SmaskError):
    """The user's file cannot be processed; retrying will not help."""

    code = "bad_input"


class EmptyFile(InputError):
    code = "empty"


class NotMedia(InputError):
    """Bytes that are no audio/video container ffmpeg understands."""

    code = "not_media"


class UnsupportedContainer(InputError):
    """A real media file, but not MP4/MOV (WebM, MKV, AVI...)."""

    code = "unsupported_container"


class NotVideo(InputError):
    """An MP4/M4A with sound but no picture where a clip with a picture is required."""

    code = "not_video"


class Corrupt(InputError):
    """Looks like MP4/MOV but cannot be decoded (truncated, broken index)."""

    code = "corrupt"


class Hostile(InputError):
    """A playlist, concat script or other file that tries to make ffmpeg open something else."""

    code = "hostile"


class NoAudio(InputError):
    code = "no_audio"


class TooLarge(InputError):
    code = "too_large"


class TooLong(InputError):
    code = "too_long"


class TooBig(InputError):
    """Picture resolution, channel count or sample rate outside the configured limits."""

    code = "too_big_format"


class Silent(InputError):
    code = "silent"


class Unpitched(InputError):
    """Sound, but no sustained pitched note to correct (speech noise, drums, wind)."""

    code = "unpitched"


class ScoreError(InputError):
    """The tune to check a take against cannot be used (``--score``, ``/tune``, a score doc)."""

    code = "bad_score"


class ScoreUnreadable(ScoreError):
    """Not a MIDI/MusicXML file, a damaged one, or one built to hurt its reader (zip or XML
    entity bombs, absurd MIDI chunk lengths)."""

    code = "score_unreadable"


class ScoreHostile(ScoreUnreadable):
    """A score file built to hurt whoever reads it: a zip bomb, XML entity expansion, MIDI
    chunk lengths no real file has. A ScoreUnreadable, with its own code and message."""

    code = "score_hostile"


class ScoreTooLarge(ScoreError):
    """More melody notes than ``core.score.MAX_SCORE_NOTES``, or a file past the byte limits."""

    code = "score_too_large"


class ScoreEmpty(ScoreError):
    """A readable score without a single pitched note (only rests, only drums)."""

    code = "score_empty"


class ScoreUnknown(ScoreError):
    """Neither a file, nor a songbook tune, nor note names."""

    code = "score_unknown"


class ProcessingError(SmaskError):
    """Our own failure (ffmpeg crashed on a valid file, out of memory...). Retrying may help."""

    code = "processing_failed"


INPUT_ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        EmptyFile,
        NotMedia,
        UnsupportedContainer,
        NotVideo,
        Corrupt,
        Hostile,
        NoAudio,
        TooLarge,
        TooLong,
        TooBig,
        Silent,
        Unpitched,
        ScoreUnreadable,
        ScoreHostile,
        ScoreTooLarge,
        ScoreEmpty,
        ScoreUnknown,
    )
)
