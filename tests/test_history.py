"""The learner's history (issue 25): takes kept as Opus + JSON, retention, /forget's tombstone,
signed take links and VK's Mini App signature, the progress sentence and picture."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qsl

import imageio_ffmpeg
import pytest

from bot.history import links
from bot.history.keep import keep_take, take_link_line
from bot.history.progress import plot_progress, progress_sentence
from bot.history.store import TAKE_ID_RE
from bot.jobs import Job
from tests.history_factory import make_report, make_store, make_take_audio, store_take

DAY = 86400.0


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_take_audio(tmp_path_factory.mktemp("audio"), make_report())


def test_a_take_is_kept_as_mono_opus_with_its_report(
    tmp_path: Path, audio: tuple[Path, Path]
) -> None:
    store = make_store(tmp_path / "h")
    take_id = store_take(store, 7, make_report(), audio)
    assert take_id is not None and TAKE_ID_RE.match(take_id)
    for side in ("before", "after"):
        path = store.audio_path(7, take_id, side)
        assert path is not None
        head = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)],
                              capture_output=True, text=True).stderr  # fmt: skip
        assert "Audio: opus, 48000 Hz, mono" in head
        assert path.stat().st_size < 40_000  # ~48 kbit/s for 4.5 s, not the 400 KB WAV
    record = store.get(7, take_id)
    assert record is not None
    assert [n["verdict"] for n in record["notes"]].count("wrong") == 1
    assert record["missed"][0]["verdict"] == "missed"
    assert record["tune"]["title"] == "Кузнечик"
    assert record["summary"]["right_share"] == pytest.approx(7 / 9)
    assert store.get(8, take_id) is None  # another learner's id finds nothing
    assert not list((tmp_path / "h" / "staging").iterdir())


def test_a_rerun_job_keeps_one_take(tmp_path: Path, audio: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "h")
    first = store_take(store, 7, make_report(), audio, job_id="1_2")
    second = store_take(store, 7, make_report(), audio, job_id="1_2")
    assert first == second and len(store.takes(7)) == 1


def test_forget_deletes_and_a_job_finishing_after_it_keeps_nothing(
    tmp_path: Path, audio: tuple[Path, Path]
) -> None:
    store = make_store(tmp_path / "h")
    submitted = time.time() - 60
    store_take(store, 7, make_report(), audio, created_at=submitted)
    store_take(store, 9, make_report(), audio)
    assert store.forget(7) == 1
    assert store.takes(7) == [] and len(store.takes(9)) == 1
    assert store_take(store, 7, make_report(), audio, created_at=submitted) is None
    assert not (tmp_path / "h" / "users" / "7").exists()
    assert store_take(store, 7, make_report(), audio, created_at=time.time() + 1) is not None


def test_retention_drops_old_takes_then_the_oldest_past_the_size_cap(
    tmp_path: Path, audio: tuple[Path, Path]
) -> None:
    store = make_store(tmp_path / "h", days=30, max_bytes_per_user=150_000)
    now = time.time()
    old = store_take(store, 7, make_report(), audio, created_at=now - 40 * DAY)
    ids = [store_take(store, 7, make_report(), audio, created_at=now - (3 - i) * DAY)
           for i in range(3)]  # fmt: skip
    kept = [r["take_id"] for r in store.takes(7)]
    assert old not in kept
    assert kept == ids[1:]  # ~70 KB a take: two fit under 150 KB, the oldest went first


def test_history_off_keeps_nothing(tmp_path: Path, audio: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "h", days=0)
    assert store_take(store, 7, make_report(), audio) is None


def test_keep_take_gives_the_reply_a_signed_link(tmp_path: Path, audio: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "h", public_url="https://smask.example")
    job = Job(job_id="5_10", peer_id=5, from_id=5, message_id=10, cmid=1, doc_url="",
              doc_title="clip.mp4", doc_size=1, lang="en", created_at=time.time())  # fmt: skip
    line = take_link_line(store, job)  # made before the take is kept: the reply goes first
    assert "https://smask.example/t/" in line and "This take's page" in line
    url = line.split(": ", 1)[1].strip()
    take_id = url.split("/t/")[1].split("?")[0]
    query = dict(parse_qsl(url.split("?", 1)[1]))
    assert links.check_take(links.web_secret(store.config), take_id, query) == 5
    assert store.get(5, take_id) is None
    assert keep_take(store, job, make_report(), *audio) == take_id  # the link now opens it
    assert f"/t/{take_id}?" in take_link_line(store, job)  # a re-run job links the same take
    assert store.get(5, take_id) is not None and len(store.takes(5)) == 1


def test_take_links_refuse_tampering_expiry_and_other_owners() -> None:
    secret = b"s3cret"
    now = time.time()
    good = dict(parse_qsl(links.take_query(secret, "A" * 22, 5, int(now + 100))))
    assert links.check_take(secret, "A" * 22, good, now) == 5
    assert links.check_take(secret, "B" * 22, good, now) is None  # another take
    assert links.check_take(secret, "A" * 22, {**good, "u": "6"}, now) is None  # another owner
    assert links.check_take(secret, "A" * 22, good, now + 200) is None  # expired
    assert links.check_take(b"other", "A" * 22, good, now) is None
    assert links.check_take(secret, "A" * 22, {"u": "5"}, now) is None


def test_vk_launch_sign_matches_vks_public_test_vector() -> None:
    query = ("vk_user_id=494075&vk_app_id=6736218&vk_is_app_user=1&vk_are_notifications_enabled=1"
             "&vk_language=ru&vk_access_token_settings=&vk_platform=android")  # fmt: skip
    params = dict(parse_qsl(query, keep_blank_values=True))
    assert links.vk_launch_sign(params, "wvl68m4dR1UpLrVRli") == (
        "htQFduJpLxz7ribXRZpDFUH-XEUhC9rBPTJkjUFEkRA"
    )
    now = time.time()
    fresh = {**params, "vk_ts": str(int(now))}
    fresh["sign"] = links.vk_launch_sign(fresh, "wvl68m4dR1UpLrVRli")
    assert links.check_launch(fresh, "wvl68m4dR1UpLrVRli", now) == 494075
    assert links.check_launch({**fresh, "vk_user_id": "1"}, "wvl68m4dR1UpLrVRli", now) is None
    assert links.check_launch(fresh, "wvl68m4dR1UpLrVRli", now + 3 * 3600) is None  # stale vk_ts
    assert links.check_launch(fresh, "", now) is None  # no app secret configured: no launch


def test_progress_sentence_and_picture(tmp_path: Path, audio: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "h")
    now = time.time()
    store_take(store, 7, make_report(cents=20, wrong_at=(2,)), audio, created_at=now - 14 * DAY)
    store_take(store, 7, make_report(cents=14, wrong_at=(), missed=0), audio, created_at=now)
    takes = store.takes(7)
    assert (
        progress_sentence(takes, "ru")
        == "за 2 нед. в среднем на 6 ц точнее, неверных нот больше нет"
    )
    assert progress_sentence(takes, "en").startswith("over 2 weeks, 6 cents closer")
    png = plot_progress(takes, tmp_path / "p.png", "ru")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
