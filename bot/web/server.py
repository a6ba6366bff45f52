"""The web service: routes, limits, and running it (embedded or alone).

Routes: ``/`` the Mini App (VK's signed launch), ``/me`` a learner's list (our signed link),
``/t/<take>`` a take's page and ``/t/<take>/{before,after}.ogg`` its audio (our signed link),
``/static/<name>`` the page's own files (a fixed list: no path reaches outside the folder).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.history.links import LIST, check_launch, check_take, take_query, web_secret
from bot.history.store import TAKE_ID_RE, TakeStore
from bot.texts import t
from bot.web.pages import list_page, message_page, take_page

log = logging.getLogger("smask.web")

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "application/javascript"}
MAX_QUERY_CHARS = 2048  # VK's launch parameters are ~600 characters
MAX_BODY_BYTES = 1024  # the page only reads: nothing is ever posted
MINI_APP_LINK_S = 2 * 3600  # take links made for a Mini App session live as long as its launch
PRUNE_EVERY_S = 3600.0
HTML = "text/html"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _lang(value: str) -> str:
    return "en" if value.lower().startswith("en") else "ru"


@web.middleware
async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse long queries and any body before a handler reads them; forbid framing by others
    except VK (the Mini App runs in VK's frame)."""
    if len(request.query_string) > MAX_QUERY_CHARS:
        return web.Response(status=414, text="query too long")
    if request.method not in ("GET", "HEAD"):
        return web.Response(status=405, text="read only")
    if (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding"):
        return web.Response(status=413, text="no body accepted")
    response = await handler(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; media-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'self' https://*.vk.com https://vk.com https://*.vk.ru"
    )
    return response


def _refused(status: int, lang: str = "ru") -> web.Response:
    key = "web_not_found" if status == 404 else "web_refused"
    return web.Response(status=status, text=message_page(t(key, lang), lang), content_type=HTML)


class WebService:
    """The handlers, bound to one store."""

    def __init__(self, store: TakeStore) -> None:
        self.store = store
        self.secret = web_secret(store.config)
        self._pruned = 0.0

    def _owner(self, take_id: str, request: web.Request) -> int | web.Response:
        if not {"u", "e", "s"} <= set(request.query):
            return _refused(401, _lang(request.query.get("l", "")))
        owner = check_take(self.secret, take_id, request.query)
        return _refused(403, _lang(request.query.get("l", ""))) if owner is None else owner

    async def take(self, request: web.Request) -> web.StreamResponse:
        take_id = request.match_info["take_id"]
        lang = _lang(request.query.get("l", ""))
        if not TAKE_ID_RE.match(take_id):
            return _refused(404, lang)
        owner = self._owner(take_id, request)
        if isinstance(owner, web.Response):
            return owner
        record = await asyncio.to_thread(self.store.get, owner, take_id)
        if record is None:
            return _refused(404, lang)
        query = "&".join(f"{k}={request.query[k]}" for k in ("u", "e", "s"))
        return web.Response(text=take_page(record, query, lang), content_type=HTML)

    async def audio(self, request: web.Request) -> web.StreamResponse:
        take_id, side = request.match_info["take_id"], request.match_info["side"]
        if not TAKE_ID_RE.match(take_id):
            return _refused(404)
        owner = self._owner(take_id, request)
        if isinstance(owner, web.Response):
            return owner
        path = await asyncio.to_thread(self.store.audio_path, owner, take_id, side)
        if path is None or await asyncio.to_thread(self.store.get, owner, take_id) is None:
            return _refused(404)
        headers = {"Content-Type": "audio/ogg", "Cache-Control": "private, max-age=3600"}
        return web.FileResponse(path, headers=headers)

    async def _list(self, owner: int, lang: str, expires: int) -> web.Response:
        await self._maybe_prune()
        takes = await asyncio.to_thread(self.store.summaries, owner)
        links = {
            r["take_id"]: f"/t/{r['take_id']}?"
            + take_query(self.secret, r["take_id"], owner, expires)
            + f"&l={lang}"
            for r in takes
        }
        return web.Response(text=list_page(takes, links, lang), content_type=HTML)

    async def mini_app(self, request: web.Request) -> web.StreamResponse:
        """VK opens this with its signed launch parameters; the user is whoever VK signed."""
        params = dict(request.query)
        lang = _lang(params.get("vk_language", ""))
        if "sign" not in params:
            return _refused(401, lang)
        user_id = check_launch(params, self.store.config.vk_app_secret)
        if user_id is None:
            return _refused(403, lang)
        return await self._list(user_id, lang, int(time.time() + MINI_APP_LINK_S))

    async def me(self, request: web.Request) -> web.StreamResponse:
        """A learner's list from /history's signed link (outside VK's frame)."""
        owner = self._owner(LIST, request)
        if isinstance(owner, web.Response):
            return owner
        return await self._list(owner, _lang(request.query.get("l", "")), int(request.query["e"]))

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not re.fullmatch(r"[a-z0-9_-]+\.(css|js)", name):
            return web.Response(status=404, text="not found")
        path = STATIC_DIR / name
        if not path.is_file() or path.resolve().parent != STATIC_DIR.resolve():
            return web.Response(status=404, text="not found")
        return web.FileResponse(path, headers={"Content-Type": STATIC_TYPES[path.suffix],
                                               "Cache-Control": "public, max-age=600"})  # fmt: skip

    async def _maybe_prune(self) -> None:
        """Retention for learners who stopped sending takes, at most once an hour."""
        if time.monotonic() - self._pruned < PRUNE_EVERY_S:
            return
        self._pruned = time.monotonic()
        await asyncio.to_thread(self.store.prune_all)


def make_app(store: TakeStore) -> web.Application:
    service = WebService(store)
    app = web.Application(middlewares=[limits], client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/", service.mini_app)
    app.router.add_get("/me", service.me)
    app.router.add_get("/t/{take_id}", service.take)
    app.router.add_get("/t/{take_id}/{side:(before|after)}.ogg", service.audio)
    app.router.add_get("/static/{name}", service.static)
    return app


async def start_web(store: TakeStore, host: str, port: int) -> web.AppRunner:
    """Listen on host:port; the caller awaits ``runner.cleanup()`` when it stops."""
    runner = web.AppRunner(make_app(store), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("learner's page on http://%s:%d/", host, port)
    return runner


async def serve_web(store: TakeStore, host: str, port: int, stop: asyncio.Event) -> None:
    runner = await start_web(store, host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
