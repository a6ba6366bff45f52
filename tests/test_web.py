"""The learner's page over HTTP (issue 25): who may see what, escaping, limits. The real
aiohttp app on a real socket, the real TakeStore with real Opus files."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.history.links import web_secret
from bot.history.store import TakeStore
from bot.web.server import start_web
from tests.history_factory import make_report, make_store, make_take_audio, store_take
from tests.web_factory import launch_query, take_link

EVIL = '<img src=x onerror="alert(1)">Кузнечик</b>'


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, TakeStore, dict[str, str]]]:
    store = make_store(tmp_path / "h")
    audio = make_take_audio(tmp_path / "a", make_report())
    ids = {
        "mine": store_take(store, 7, make_report(title=EVIL), audio) or "",
        "theirs": store_take(store, 8, make_report(title="Чужая"), audio) or "",
    }
    runner = await start_web(store, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", store, ids
    await runner.cleanup()


async def _get(url: str, **kw: object) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.get(url, **kw) as r:  # type: ignore[arg-type]
        return r.status, await r.text(errors="replace"), dict(r.headers)


async def test_take_page_shows_the_notes_and_escapes_the_title(site: tuple) -> None:
    base, store, ids = site
    status, body, _ = await _get(base + take_link(web_secret(store.config), ids["mine"], 7))
    assert status == 200
    assert body.count('data-verdict="wrong"') == 1 and body.count('data-verdict="missed"') == 1
    assert body.count("data-note-index=") == 9
    assert "<img" not in body and "&lt;img src=x onerror=" in body


async def test_refused_links_show_nothing(site: tuple) -> None:
    base, store, ids = site
    secret = web_secret(store.config)
    good = take_link(secret, ids["mine"], 7)
    cases = {
        f"/t/{ids['mine']}": 401,
        good.replace("&s=", "&s=A"): 403,  # tampered
        take_link(secret, ids["mine"], 7, expires=time.time() - 5): 403,  # expired
        take_link(secret, ids["theirs"], 7): 404,  # another learner's take, our own signature
        good.replace("u=7", "u=8"): 403,  # our take claimed for another owner
        take_link(b"guess", ids["mine"], 7): 403,
    }
    for path, want in cases.items():
        status, body, _ = await _get(base + path)
        assert status == want, path
        assert "data-note-index" not in body and "Кузнечик" not in body


async def test_audio_is_served_with_ranges_only_to_a_signed_link(site: tuple) -> None:
    base, store, ids = site
    link = take_link(web_secret(store.config), ids["mine"], 7)
    path, query = link.split("?")
    status, _, headers = await _get(
        f"{base}{path}/after.ogg?{query}", headers={"Range": "bytes=0-99"}
    )
    assert status == 206 and headers["Content-Type"] == "audio/ogg"
    assert (await _get(f"{base}{path}/after.ogg"))[0] == 401


async def test_mini_app_needs_a_valid_fresh_sign_and_shows_only_ones_own_takes(site: tuple) -> None:
    base, _, ids = site
    status, body, headers = await _get(f"{base}/?{launch_query(7, lang='en')}")
    assert status == 200 and f'data-take-id="{ids["mine"]}"' in body
    assert ids["theirs"] not in body and 'lang="en"' in body and "My takes" in body
    status, body, _ = await _get(f"{base}/?{launch_query(8)}")
    assert status == 200 and ids["theirs"] in body and ids["mine"] not in body
    assert "Мои записи" in body
    assert (await _get(f"{base}/?{launch_query(7, secret='wrong')}"))[0] == 403
    assert (await _get(f"{base}/?{launch_query(7, ts=time.time() - 3 * 3600)}"))[0] == 403
    assert (await _get(f"{base}/?{launch_query(7).replace('vk_user_id=7', 'vk_user_id=8')}"))[
        0
    ] == 403
    assert (await _get(f"{base}/?vk_user_id=7"))[0] == 401
    assert "frame-ancestors" in headers["Content-Security-Policy"]


async def test_static_cannot_leave_its_folder_and_long_queries_and_bodies_are_refused(
    site: tuple,
) -> None:
    base, _, _ = site
    assert (await _get(base + "/static/page.css"))[0] == 200
    for path in ("/static/..%2f..%2fhistory%2fstore.py", "/static/../server.py",
                 "/static/%2e%2e/server.py", "/static/take.py",
                 "/static/.%2e%2fpages.py"):  # fmt: skip
        status, body, _ = await _get(base + path)
        assert status in (400, 404) and "import" not in body, path
    assert (await _get(f"{base}/?{'x' * 5000}"))[0] == 414
    async with aiohttp.ClientSession() as s, s.post(base + "/", data=b"x" * 10) as r:
        assert r.status in (405, 413)


async def test_a_russian_page_names_notes_and_the_key_in_solfege(site: tuple) -> None:
    """The page speaks the chat's language (issue 23): «ми¹», «до мажор», no "E4" or "C major";
    the English page keeps Latin names."""
    import re

    base, store, ids = site
    secret = web_secret(store.config)
    _, ru, _ = await _get(base + take_link(secret, ids["mine"], 7))
    table = ru[ru.index('<table class="notes">') :]
    assert "до¹" in table and "мажор" in ru
    latin = r">[A-G][#b]?\d<|[A-G][#b]?\d →|major|minor"
    assert not re.search(latin, table + ru[: ru.index("<svg")])
    _, en, _ = await _get(base + take_link(secret, ids["mine"], 7, lang="en"))
    assert re.search(r">C4<", en) and "major" in en
