"""A refused take is refused for its true reason (issue 23, point 6): speech is speech,
silence is silence, too short is too short, and real music is never any of them.

Real tracker and weights; speech from espeak-ng, a room's tone as pink noise, a sung-like
half-second note; the bot path through the fake VK with a real worker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from core.errors import Silent, Speech, TooShort, Unpitched
from core.pipeline import CorrectOptions, correct_audio
from models.training import rooms

if TYPE_CHECKING:
    from fakevk import FakeVK

    from models.network import Tracker

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "models" / "weights" / "default.pt"
RATE = 16000
SPOKEN = [
    "Привет! Это я, послушай, пожалуйста, как я пою эту песню, ладно?",
    "Раз, два, три, четыре. Мама, посмотри, у меня получилось!",
]

needs_weights = pytest.mark.skipif(
    not WEIGHTS.exists(), reason=f"tracker weights not built yet ({WEIGHTS})"
)
needs_espeak = pytest.mark.skipif(not rooms.espeak_available(), reason="needs espeak-ng")


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    from models.checkpoint import load_tracker

    return load_tracker("default", "cpu")


def refusal(audio: np.ndarray, tracker: Tracker, rate: int = RATE) -> str:
    """The code the take is refused with ("corrected" when it is not refused)."""
    try:
        correct_audio(audio[np.newaxis].astype(np.float32), rate, CorrectOptions(),
                      tracker=tracker)  # fmt: skip
    except Unpitched as exc:
        return exc.code
    except Silent as exc:
        return exc.code
    return "corrected"


def sung_note(seconds: float, rate: int = RATE) -> np.ndarray:
    """A4 as a voice holds it (harmonics, a 5.5 Hz vibrato), with half a second either side."""
    t = np.arange(round(seconds * rate)) / rate
    hz = 440.0 * 2 ** (15.0 * np.sin(2 * np.pi * 5.5 * t) / 1200)
    phase = 2 * np.pi * np.cumsum(hz) / rate
    tone = sum(0.4 / k * np.sin(k * phase) for k in range(1, 6))
    tone *= np.minimum(1.0, np.minimum(t / 0.03, (seconds - t) / 0.05))
    pad = np.zeros(rate // 2)
    return np.concatenate([pad, tone, pad])


@needs_weights
@needs_espeak
@pytest.mark.parametrize("pitch", [50, 85, 99])  # a man's, a woman's and a child's voice
@pytest.mark.parametrize("text", SPOKEN, ids=["greeting", "count_in"])
def test_loud_speech_is_called_speech(tracker: Tracker, text: str, pitch: int) -> None:
    spoken = rooms.speech(text, RATE, voice="ru", pitch=pitch) * 0.7
    assert refusal(spoken, tracker) == Speech.code


@needs_weights
def test_digital_silence_and_a_quiet_room_are_called_silence(tracker: Tracker) -> None:
    assert refusal(np.zeros(3 * RATE), tracker) == Silent.code
    room = rooms.pink_noise(np.random.default_rng(3), 3 * RATE)
    # -45 dBFS RMS: above the decoder's silence level (-50 dBFS at the loudest 50 ms).
    assert refusal(room * 10 ** (-45 / 20), tracker) == Silent.code
    # A loud fan is noise, not silence.
    assert refusal(room * 10 ** (-20 / 20), tracker) == Unpitched.code


@needs_weights
def test_a_half_second_note_is_called_too_short(tracker: Tracker) -> None:
    assert refusal(sung_note(0.5), tracker) == TooShort.code
    assert refusal(sung_note(1.5), tracker) == "corrected"


@needs_weights
def test_real_music_is_corrected_not_refused(tracker: Tracker) -> None:
    """The repository's sample and, when present, the real takes in ../shared/eval."""
    from core.media.audio import to_mono
    from core.media.io import decode_audio
    from core.media.probe import probe

    clips = [ROOT / "data" / "sample" / "sample.mp4"]
    shared = ROOT.parent / "shared" / "eval"
    clips += [shared / n for n in ("flute_take_smask.mp4", "kids_tree_portrait.mov")
              if (shared / n).exists()]  # fmt: skip
    for clip in clips:
        info = probe(clip)
        assert info.audio is not None
        mono = to_mono(decode_audio(clip, info))
        assert refusal(mono, tracker, info.audio.sample_rate) == "corrected", clip


@pytest.mark.slow
@needs_espeak
async def test_a_spoken_voice_message_gets_the_speech_answer(
    fake: FakeVK, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakevk import audio_message_attachment
    from fakevk.harness import WorkerProcess, make_settings, running_bot, tracker_or_skip
    from media_factory import run_ffmpeg
    from scipy.io import wavfile

    from bot import jobs
    from bot.jobs import random_id_for
    from bot.texts import t

    tracker_or_skip()
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, fake, workers=1)
    spoken = rooms.speech(SPOKEN[0], 48000, voice="ru", pitch=99) * 0.7
    wavfile.write(tmp_path / "speech.wav", 48000, (spoken * 32767).astype(np.int16))
    voice = tmp_path / "speech.ogg"
    run_ffmpeg("-y", "-i", str(tmp_path / "speech.wav"), "-c:a", "libopus", "-f", "ogg",
               str(voice))  # fmt: skip
    link = fake.add_file("speech.ogg", voice.read_bytes())
    worker = WorkerProcess(settings, tmp_path / "w", tmp_path / "worker.log").start()

    def answered() -> list[str]:
        want = random_id_for("801_1", "result")
        return [m.text for m in fake.replies_to(801, 1) if m.random_id == want]

    try:
        async with running_bot(settings, fake):
            await fake.push_message(peer_id=801, message_id=1,
                                    attachments=[audio_message_attachment(link)])  # fmt: skip
            await fake.wait_for(lambda: bool(answered()), timeout_s=180)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0
    assert answered() == [t("error_speech", "ru")]
    assert "речь" in answered()[0]
    job = jobs.make_store(settings).get("801_1")
    assert job is not None and job.state == "done" and job.error_code == Speech.code
