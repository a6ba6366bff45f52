"""The media commands of ``smask``: probe, pitch, correct, tunes.

Flags mirror the keyword arguments of the core functions one to one, so the CLI and the bot's
worker run exactly the same pipeline. Heavy imports (torch, the model) happen inside the command
functions so ``smask --help`` and ``smask probe`` start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from core import interrupts
from core.errors import InputError, SmaskError

log = logging.getLogger("smask")

EXIT_OK = 0
EXIT_USAGE = 2  # as argparse: the command line itself is wrong
EXIT_INPUT = 3  # the file cannot be processed; retrying will not help
EXIT_FAILED = 4  # our own failure
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports it
EXIT_TERMINATED = 143  # SIGTERM (128 + 15): a service manager or `kill` stopped the run

# One line per error code, for people at a terminal (the chat wording lives in bot/texts.py).
CLI_MESSAGES: dict[str, str] = {
    "empty": "the file is empty",
    "not_media": "this is not an audio or video file",
    "web_page": "this is a web page (HTML), not a recording; was the download link wrong?",
    "unsupported_container": (
        "supported: MP4/MOV clips and M4A, OGG (Opus/Vorbis), MP3, WAV (PCM), FLAC audio"
    ),
    "not_video": "this MP4 has sound but no picture; a video clip is needed here",
    "corrupt": "the file is damaged or incomplete (truncated upload?)",
    "hostile": "the file is a playlist or script that points at other files; refused",
    "no_audio": "the clip has no sound track",
    "video_in_audio": "this audio file also carries a video stream; send video as MP4/MOV",
    "chained_stream": "the OGG holds more than one recording (chained or multiplexed streams)",
    "oversized_tag": "the MP3's ID3 tag is absurdly large or runs past the end of the file",
    "length_mismatch": "the header's length does not match the audio in the file (damaged?)",
    "too_large": "the file is larger than the configured limit",
    "too_long": "the clip is longer than the configured limit",
    "too_big_format": "picture size, channel count or sample rate is outside the limits",
    "too_many_streams": "the file holds more streams (tracks) than any camera writes; refused",
    "silent": "the sound track is silent",
    "unpitched": "no sustained melody was found (speech, noise or percussion?)",
    "score_unreadable": "the score is not a MIDI or MusicXML file, or it is damaged",
    "score_hostile": "the score file is built to harm its reader (zip bomb, XML entities); refused",
    "score_too_large": "the score is too large (more than 5000 notes)",
    "score_file_too_large": "the score file is too large or too complex to read (see the limit)",
    "score_empty": "the score has no melody notes (only rests or drums)",
    "score_unknown": "not a score file, a tune from `smask tunes`, or note names like 'E4 D4 C4'",
    "processing_failed": "processing failed on our side",
}


def _explain(error: SmaskError) -> str:
    text = CLI_MESSAGES.get(error.code, error.code)
    return f"{text} [{error.code}]" + (f": {error.detail}" if error.detail else "")


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread so the run unwinds like Ctrl-C does: the result's
    temp file is removed and ffmpeg is stopped (the default action would kill the process on
    the spot, leaving a hidden ``.OUT.*.part`` behind)."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (exit code 143)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, frame: object) -> None:
        interrupts.stop(Terminated(EXIT_TERMINATED))  # held while an ffmpeg is being started

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _unwinds_on_sigterm(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """The media commands only: the bot's commands handle SIGTERM their own way."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with _sigterm_unwinds():
            return command(args)

    return run


def _cmd_probe(args: argparse.Namespace) -> int:
    from core.limits import MediaLimits
    from core.media.probe import probe

    info = probe(Path(args.file), limits=MediaLimits.from_env())
    print(json.dumps(info.to_dict(), indent=2, ensure_ascii=False))
    return EXIT_OK


def _cmd_pitch(args: argparse.Namespace) -> int:
    import contextlib

    from core.media.io import start_decode
    from core.media.probe import probe
    from core.pipeline import load_tracker_in_background

    _check_weights(args)
    # torch and the model (the bulk of a cold start) load in a thread while ffmpeg probes the
    # clip and decodes it into the spool.
    loading = load_tracker_in_background(None, args.device, args.weights)
    info = probe(Path(args.file))
    with contextlib.closing(start_decode(Path(args.file), info)) as spool:
        from core.analysis.pitch import track_source

        track = track_source(spool, device=args.device, tracker=cast(Any, loading)())
    track.to_csv(Path(args.output))
    voiced = int((~_isnan(track.f0_hz)).sum())
    print(f"{len(track.f0_hz)} frames ({voiced} voiced) -> {args.output}", file=sys.stderr)
    return EXIT_OK


def _isnan(values: Any) -> Any:
    import numpy as np

    return np.isnan(values)


def _progress_bar(enabled: bool) -> tuple[Callable[[str, float], None], Callable[[], None]]:
    """A tqdm bar over the pipeline's stages; silent when stderr is not a terminal."""
    from tqdm import tqdm

    bar = tqdm(total=100, unit="%", disable=not enabled, bar_format="{desc:<10} {bar} {n:.0f}%")
    stages = ("decoding", "analysing", "retuning", "encoding")

    def update(stage: str, fraction: float) -> None:
        index = stages.index(stage) if stage in stages else 0
        overall = 100.0 * (index + max(0.0, min(1.0, fraction))) / len(stages)
        bar.set_description_str(stage)
        bar.n = overall
        bar.refresh()

    return update, bar.close


def _a4_value(text: str) -> float | None:
    """``--a4``: a frequency, or ``auto`` (None: the pipeline estimates it from the notes)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        message = f"expected Hz such as 442, or auto; got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _score_of(args: argparse.Namespace) -> Any:
    """The ``--score`` tune, or None. A bad one is a bad option: one line, exit code 2.

    Read before the clip, so a typo in a tune's name costs nothing and writes nothing.
    """
    if args.score is None:
        for flag, value in (
            ("--score-track", args.score_track),
            ("--transpose", args.transpose),
            ("--fix-wrong-notes", args.fix_wrong_notes or None),
        ):
            if value is not None:
                raise _UsageError(f"{flag} needs --score (the tune to check the take against)")
        return None
    from core.errors import ScoreError
    from core.score.load import load_score

    try:
        score = load_score(args.score, track=args.score_track)
    except ScoreError as error:
        raise _UsageError(f"--score: {_explain(error)}") from None
    except ValueError as error:  # a --score-track the file does not have
        raise _UsageError(f"--score-track: {error}") from None
    if not args.quiet:
        from core.score.describe import describe_score

        print(f"score: {describe_score(score, args.lang)}", file=sys.stderr)
    return score


class _UsageError(Exception):
    """A command line that cannot work as given (exit code 2, like argparse's own)."""


def _cmd_tunes(args: argparse.Namespace) -> int:
    from core.score.load import songbook

    lang = args.lang or _env_language()
    entries = songbook()
    width = max(len(e.id) for e in entries)
    headings = {
        "song": {"ru": "Песни", "en": "Songs"},
        "scale": {"ru": "Гаммы", "en": "Scales"},
        "arpeggio": {"ru": "Арпеджио", "en": "Arpeggios"},
    }
    for kind in ("song", "scale", "arpeggio"):
        print(f"{headings[kind][lang]}:")
        for entry in (e for e in entries if e.kind == kind):
            print(f"  {entry.id:<{width}}  {entry.title(lang)}")
    return EXIT_OK


def _env_language() -> str:
    import os

    lang = os.environ.get("SMASK_LANGUAGE", "").strip().lower()
    return lang if lang in ("ru", "en") else "en"


def _semitones(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole semitones such as -2; got {text!r}"
        ) from None


def _track_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a track number from 1; got {text!r}")
    return value


def _cmd_correct(args: argparse.Namespace) -> int:
    from core.limits import MediaLimits
    from core.pipeline import CorrectOptions, correct_file

    score = _score_of(args)
    _check_weights(args)
    options = CorrectOptions(
        key=args.key,
        scale=args.scale,
        a4_hz=args.a4,
        mode=args.mode,
        strength=args.strength,
        deadband_cents=args.deadband,
        instrument=args.instrument,
        device=args.device,
        weights=args.weights,
        score=score,
        transpose=args.transpose,
        fix_wrong_notes=args.fix_wrong_notes,
    )
    update, close = _progress_bar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        report = correct_file(
            Path(args.input),
            Path(args.output),
            options,
            progress=update,
            limits=MediaLimits.from_env(),
        )
    finally:
        close()
    if args.report:
        _write_text_atomically(
            Path(args.report), json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
        )
    if args.plot:
        report.plot(Path(args.plot))
    print(report.to_text(args.lang))
    return EXIT_OK


def _write_text_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temp file beside it, renamed into place.

    A report that fails half-way (a full disk) must not leave an empty report.json beside a
    finished clip. ``backslashreplace``: text that still cannot be UTF-8 (a lone surrogate
    from a non-UTF-8 name; core.report spells those out already) is escaped, not fatal.
    """
    import contextlib
    import os
    import tempfile

    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _check_weights(args: argparse.Namespace) -> None:
    """An unknown ``--weights`` is a bad option: one line, exit code 2, before any decoding.

    The product's model and the per-frame one always ship; any other is looked up here
    (that import brings torch in before the decode starts, which the default's cold start
    keeps overlapped)."""
    if args.weights in ("auto", "default"):
        return
    from core.analysis.pitch import shipped_weights, weights_path

    if not weights_path(args.weights).is_file():
        raise _UsageError(
            f"--weights: no pitch model {args.weights!r}: the shipped ones are "
            f"{', '.join(shipped_weights())}, or give a .pt file"
        )


def _add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--weights",
        default="auto",
        help="pitch model: auto (the refiner only on noisy, echoing takes, by their "
        "harmonicity); default (never the refiner); refiner (always: steadier in noisy, "
        "echoing rooms, but it smooths very short notes into their neighbours); or a .pt file",
    )


def add_commands(subparsers: Any) -> None:
    """Register probe, pitch, correct and tunes on an argparse subparsers object."""
    p = subparsers.add_parser("probe", help="print a clip's facts as JSON")
    p.add_argument("file", help="MP4/MOV clip, or M4A, OGG, MP3, WAV, FLAC audio")
    p.set_defaults(handler=_unwinds_on_sigterm(_cmd_probe))

    p = subparsers.add_parser("pitch", help="track pitch every 10 ms into a CSV")
    p.add_argument("file", help="MP4/MOV clip, or M4A, OGG, MP3, WAV, FLAC audio")
    p.add_argument("-o", "--output", required=True, help="CSV: time_s, f0_hz, voiced_prob")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda if any")
    _add_weights(p)
    p.set_defaults(handler=_unwinds_on_sigterm(_cmd_pitch))

    p = subparsers.add_parser(
        "correct",
        help="pull out-of-tune notes to pitch; picture and duration untouched",
        description="Correct the intonation of a clip. The video stream is copied bit for bit; "
        "only the sound is retuned.",
    )
    p.add_argument("input", help="MP4/MOV clip, or M4A, OGG, MP3, WAV, FLAC audio")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="where to write the result, in the input's format (OGG/Opus stays 48 kHz Opus)",
    )
    p.add_argument("--key", default=None, help="tonic, e.g. D or Bb (default: detected)")
    p.add_argument(
        "--scale",
        default="major",
        help="major, minor, harmonic_minor, chromatic, major_pentatonic, minor_pentatonic",
    )
    p.add_argument(
        "--a4",
        type=_a4_value,
        default=440.0,
        help="reference A4 in Hz (default 440), or 'auto' to estimate it from the recording",
    )
    p.add_argument(
        "--mode",
        choices=["natural", "hard"],
        default="natural",
        help="natural keeps vibrato and slides; hard is the flat auto-tune effect",
    )
    p.add_argument("--strength", type=float, default=100.0, help="percent of the error corrected")
    p.add_argument("--deadband", type=float, default=0.0, help="cents within which notes stay")
    p.add_argument("--instrument", default=None, help="flute, recorder, violin, voice...")
    p.add_argument(
        "--score",
        default=None,
        metavar="TUNE",
        help="the tune the take should be: a MIDI or MusicXML file, a tune from `smask tunes`, "
        "or note names such as 'E4 D4 C4', 'E D C' or 'ми ре до' (lengths: 'E4/2')",
    )
    p.add_argument(
        "--score-track",
        type=_track_number,
        default=None,
        metavar="N",
        help="which track (MIDI) or part (MusicXML) with notes is the melody, from 1 "
        "(default: the one with the most notes)",
    )
    p.add_argument(
        "--transpose",
        type=_semitones,
        default=None,
        metavar="N",
        help="semitones from the written score to what is played (-2: B-flat clarinet); "
        "default: octave shifts are found by themselves",
    )
    p.add_argument(
        "--fix-wrong-notes",
        action="store_true",
        help="move wrong notes (up to 3 semitones off) onto the score's note",
    )
    p.add_argument("--report", default=None, help="write the per-note report as JSON")
    p.add_argument("--plot", default=None, help="write the before/after pitch picture (PNG)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda if any")
    p.add_argument("--lang", choices=["en", "ru"], default="en", help="language of the summary")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_weights(p)
    p.set_defaults(handler=_unwinds_on_sigterm(_cmd_correct))

    p = subparsers.add_parser("tunes", help="list the songbook's tunes for --score")
    p.add_argument(
        "--lang", choices=["en", "ru"], default=None, help="titles' language (SMASK_LANGUAGE)"
    )
    p.set_defaults(handler=_cmd_tunes)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command, turning our typed errors into one readable line and an exit code."""
    try:
        code: int = args.handler(args)
        return code
    except _UsageError as error:
        print(f"smask: {error}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as error:
        print(f"smask: {_explain(error)}", file=sys.stderr)
        return EXIT_INPUT
    except SmaskError as error:
        print(f"smask: {_explain(error)}", file=sys.stderr)
        return EXIT_FAILED
    except FileNotFoundError as error:
        print(f"smask: no such file: {error.filename or error}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        # Option values the parser cannot judge alone (an unknown scale or instrument, a
        # strength outside 0..100): the options type says what is wrong.
        print(f"smask: {error}", file=sys.stderr)
        return EXIT_USAGE
