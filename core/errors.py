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


class WebPage(NotMedia):
    """An HTML page where a recording was expected: a download link that answered with a
    login, error or captcha page instead of the file."""

    code = "web_page"


class UnsupportedContainer(InputError):
    """A real media file, but in none of the containers we take (WebM, MKV, AVI, AMR...), or
    an accepted container holding a codec we do not (ADPCM in WAV, Speex in OGG...)."""

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


class VideoInAudio(InputError):
    """An audio container (OGG, MP3, WAV, FLAC) that also carries a picture stream (Theora in
    OGG): the result could not keep it, and a clip belongs in MP4/MOV."""

    code = "video_in_audio"


class ChainedStream(InputError):
    """An OGG holding more than one logical stream: a second stream chained after the first
    (two recordings glued together) or multiplexed beside it. Which one is "the" take?"""

    code = "chained_stream"


class OversizedTag(InputError):
    """A metadata tag (ID3v2) larger than any real cover art needs, or running past the end
    of the file: megabytes for ffmpeg to parse before the first audio frame."""

    code = "oversized_tag"


class LengthMismatch(InputError):
    """The header claims a length the audio data does not have: a false Xing/Info frame
    count, a WAV data chunk longer than the file, a forged FLAC sample count."""

    code = "length_mismatch"


class NoAudio(InputError):
    code = "no_audio"


class TooLarge(InputError):
    code = "too_large"


class TooLong(InputError):
    code = "too_long"


class TooBig(InputError):
    """Picture resolution, channel count or sample rate outside the configured limits."""

    code = "too_big_format"


class TooManyStreams(InputError):
    """More streams than any camera or phone writes (``MediaLimits.max_streams``): a
    container with hundreds of tracks costs ffmpeg seconds and gigabytes to open, for a
    clip that only ever uses one picture and one sound."""

    code = "too_many_streams"


class Silent(InputError):
    code = "silent"


class Unpitched(InputError):
    """Sound, but no sustained pitched note to correct (noise, drums, wind)."""

    code = "unpitched"


class Speech(Unpitched):
    """Talk, not a melody: voiced syllables that glide, with unvoiced sound between them
    (:func:`core.plan.performance.voicing_of`). An Unpitched, with a reason a learner
    recognises: "too short or quiet" for a loud spoken message makes them doubt the bot."""

    code = "speech"


class TooShort(Unpitched):
    """A held note, but less sustained pitch in the whole clip than a correction needs
    (``core.plan.planner.MIN_PITCHED_S``): the learner should sing or play longer."""

    code = "too_short"


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
    """More melody notes than ``core.score.model.MAX_SCORE_NOTES``, or a file past the byte
    limits."""

    code = "score_too_large"


class ScoreFileTooLarge(ScoreTooLarge):
    """A score file past the bounds on what its readers may be given: bytes, bars,
    signatures, MIDI events, or the time and memory its reading took. Not "too many notes":
    the learner needs to hear the file is too big, not that their tune is too long."""

    code = "score_file_too_large"


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
        WebPage,
        UnsupportedContainer,
        NotVideo,
        Corrupt,
        Hostile,
        VideoInAudio,
        ChainedStream,
        OversizedTag,
        LengthMismatch,
        NoAudio,
        TooLarge,
        TooLong,
        TooBig,
        TooManyStreams,
        Silent,
        Unpitched,
        Speech,
        TooShort,
        ScoreUnreadable,
        ScoreHostile,
        ScoreTooLarge,
        ScoreFileTooLarge,
        ScoreEmpty,
        ScoreUnknown,
    )
)
