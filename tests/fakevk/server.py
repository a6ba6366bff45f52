"""A fake VK API: the JSON shapes of docs/vk-api-notes.md, served over real HTTP on loopback.

It answers the methods the bot uses, runs a long-poll endpoint fed by ``push_message``, serves
doc downloads and accepts uploads, and records everything it receives so tests assert on what
VK would have seen. Faults on demand: a share of method calls answered with error 6/9/10 (an
error 10 on ``messages.send`` is answered *after* the message was posted, like a VK timeout),
and long-poll events delivered twice. ``messages.send`` deduplicates on (peer_id, random_id)
as VK does, so "answered exactly once" can be checked on the messages it holds.

Group chats follow docs/vk-api-notes.md: every message posted in a chat gets its own
conversation_message_id (answered by the ``peer_ids`` form of ``messages.send``),
``messages.edit`` finds a message by ``cmid`` as well as by id, and an answer that forwards a
message with ``is_reply`` counts as a reply to it (``replies_to``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

ERROR_MESSAGES = {
    6: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied",
    29: "Rate limit reached",
    901: "Can't send messages for users without permission",
}
NEVER_FAIL = ("groups.getLongPollServer",)  # keep the poll loop itself out of the fault budget


@dataclass
class Sent:
    """One message the community posted (after random_id dedup)."""

    message_id: int
    peer_id: int
    text: str
    random_id: int
    attachment: str = ""
    reply_to: int = 0
    forward: str = ""
    edits: list[str] = field(default_factory=list)
    cmid: int = 0  # its conversation_message_id in its chat
    received_at: float = 0.0  # time.monotonic() when the send arrived (bench latency)

    @property
    def current_text(self) -> str:
        return self.edits[-1] if self.edits else self.text

    @property
    def replied_cmids(self) -> list[int]:
        """The conversation_message_ids this message answers by ``forward`` with is_reply."""
        if not self.forward:
            return []
        forward = json.loads(self.forward)
        if not forward.get("is_reply"):
            return []
        return [int(c) for c in forward.get("conversation_message_ids") or []]

    def reply_message(self, group_id: int) -> dict[str, Any]:
        """This message as ``reply_message`` of a user's answer to it (a reply to the bot)."""
        return {
            "id": 0,
            "conversation_message_id": self.cmid,
            "date": int(time.time()),
            "from_id": -group_id,
            "peer_id": self.peer_id,
            "text": self.text,
            "attachments": [],
        }


def doc_attachment(
    url: str, *, title: str = "clip.mp4", size: int = 1000, doc_id: int = 1
) -> dict[str, Any]:
    ext = title.rsplit(".", 1)[-1] if "." in title else ""
    return {
        "type": "doc",
        "doc": {
            "id": doc_id,
            "owner_id": 1,
            "title": title,
            "size": size,
            "ext": ext,
            "date": int(time.time()),
            "type": 6,
            "url": url,
        },
    }


def audio_message_attachment(
    link_ogg: str, link_mp3: str = "", *, duration: int = 2, voice_id: int = 1
) -> dict[str, Any]:
    """A voice message as VK delivers it to a community bot (MessagesAudioMessage)."""
    return {
        "type": "audio_message",
        "audio_message": {
            "id": voice_id,
            "owner_id": 1,
            "duration": duration,
            "waveform": [0, 5, 12, 20, 12, 5, 0],
            "link_ogg": link_ogg,
            "link_mp3": link_mp3 or link_ogg.replace(".ogg", ".mp3"),
            "access_key": "vk_voice_key",
        },
    }


def video_attachment(video_id: int = 1) -> dict[str, Any]:
    return {
        "type": "video",
        "video": {
            "id": video_id,
            "owner_id": 1,
            "title": "clip",
            "duration": 5,
            "date": int(time.time()),
            "access_key": "k",
        },
    }


class FakeVK:
    """Start with ``await fake.start()``; ``fake.api_url`` is the base for vkbottle's API."""

    def __init__(self, group_id: int = 1, *, seed: int = 0) -> None:
        self.group_id = group_id
        self.rng = random.Random(seed)
        self.error_rate = 0.0  # share of method calls answered with an error
        self.error_codes: tuple[int, ...] = (6, 9, 10)
        self.duplicate_events = False  # deliver every long-poll event twice
        self.fail_methods: dict[str, int] = {}  # method -> error code, every call
        self.fail_next: dict[str, list[int]] = {}  # method -> error codes for its next calls
        # Methods for which VK is unreachable: the call is sent on (HTTP 307, same query, the
        # token included) to ``unreachable_url``, where connecting hangs (see blackhole.py).
        self.unreachable_methods: set[str] = set()
        self.unreachable_url = ""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors_injected = 0
        self.messages: dict[int, Sent] = {}
        self.uploads: dict[str, bytes] = {}
        self.saved_docs: list[dict[str, Any]] = []
        self.saved_videos: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.file_hits: dict[str, int] = {}
        self.lp_requests = 0  # long-poll requests received (a bot is listening once it grows)
        self.screen_name = "fake"  # the community's @name (groups.getById)
        self._pushed_cmids: dict[tuple[int, int], int] = {}  # (peer, message id) -> its cmid
        self._next_cmid: dict[int, itertools.count[int]] = {}  # per chat, for our messages
        self._events: list[dict[str, Any]] = []
        self._by_random: dict[tuple[int, int], int] = {}
        self._ids = itertools.count(100_000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> FakeVK:
        app = web.Application(client_max_size=512 * 1024 * 1024)
        app.router.add_route("*", "/method/{name}", self._method)
        app.router.add_route("*", "/lp", self._long_poll)
        app.router.add_post("/upload/{kind}", self._upload)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/redirect", self._redirect)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/method/"

    # --- test controls ---------------------------------------------------------------------
    def add_file(self, name: str, data: bytes) -> str:
        """Serve ``data`` at a download URL (the doc's ``url``)."""
        self.files[name] = data
        return f"{self.base_url}/files/{name}"

    async def push_message(
        self,
        *,
        peer_id: int,
        message_id: int,
        text: str = "",
        from_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
        cmid: int | None = None,
        reply_message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a ``message_new`` long-poll event (twice when ``duplicate_events``).

        ``cmid``: its conversation_message_id (the message id by default; a community in a
        group chat may see ``message_id`` 0 and only this). ``reply_message``: the message it
        answers (``Sent.reply_message`` for one of the bot's).
        """
        cmid = message_id if cmid is None else cmid
        self._pushed_cmids[(peer_id, message_id)] = cmid
        event = {
            "type": "message_new",
            "group_id": self.group_id,
            "event_id": f"e{message_id}_{cmid}_{peer_id}",
            "v": "5.199",
            "object": {
                "message": {
                    "id": message_id,
                    "date": int(time.time()),
                    "from_id": peer_id if from_id is None else from_id,
                    "peer_id": peer_id,
                    "text": text,
                    "out": 0,
                    "version": 1,
                    "conversation_message_id": cmid,
                    "attachments": attachments or [],
                    "fwd_messages": [],
                    "important": False,
                    "is_hidden": False,
                },
                "client_info": {
                    "button_actions": ["text"],
                    "keyboard": True,
                    "inline_keyboard": True,
                    "carousel": True,
                    "lang_id": 0,
                },
            },
        }
        if reply_message is not None:
            event["object"]["message"]["reply_message"] = reply_message  # type: ignore[index]
        async with self._changed:
            self._events.append(event)
            if self.duplicate_events:
                self._events.append(event)
            self._changed.notify_all()
        return event

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
        """Block until ``predicate()`` holds after some request, or fail after ``timeout_s``."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout_s)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def replies_to(self, peer_id: int, message_id: int) -> list[Sent]:
        """Our answers to a pushed message: by ``reply_to``, or by a forward with is_reply of
        its conversation_message_id (how answers are pointed in group chats)."""
        cmid = self._pushed_cmids.get((peer_id, message_id), message_id)
        return [
            m
            for m in self.messages.values()
            if m.peer_id == peer_id
            and ((message_id and m.reply_to == message_id) or cmid in m.replied_cmids)
        ]

    def sent_to(self, peer_id: int) -> list[Sent]:
        """Everything the community posted in ``peer_id``, oldest first."""
        return [m for m in self.messages.values() if m.peer_id == peer_id]

    def doc_downloads(self) -> int:
        """How many times any served file was fetched (the bot downloaded something)."""
        return sum(self.file_hits.values())

    # --- HTTP handlers ---------------------------------------------------------------------
    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        params.pop("access_token", None)
        self.calls.append((name, params))
        if name in self.unreachable_methods:
            await self._notify()
            raise web.HTTPTemporaryRedirect(self.unreachable_url + request.path_qs)
        try:
            code = self.fail_methods.get(name)
            if code is None and self.fail_next.get(name):
                code = self.fail_next[name].pop(0)
            if code is None and name not in NEVER_FAIL and self.rng.random() < self.error_rate:
                code = self.rng.choice(self.error_codes)
            if code is not None:
                self.errors_injected += 1
                if code == 10 and name == "messages.send":
                    self._send(params)  # posted, but the answer is lost
                return self._error(code)
            handler = getattr(self, "_m_" + name.replace(".", "_"), None)
            if handler is None:
                return self._error(3, f"Unknown method passed: {name}")
            return web.json_response({"response": handler(params)})
        finally:
            await self._notify()

    @staticmethod
    def _error(code: int, msg: str | None = None) -> web.Response:
        text = msg or ERROR_MESSAGES.get(code, "Error")
        return web.json_response(
            {"error": {"error_code": code, "error_msg": text, "request_params": []}}
        )

    def _m_groups_getLongPollServer(self, params: dict[str, Any]) -> Any:
        return {"key": "k", "server": f"{self.base_url}/lp", "ts": str(len(self._events))}

    def _m_groups_getById(self, params: dict[str, Any]) -> Any:
        return {"groups": [{"id": self.group_id, "name": "fake", "screen_name": self.screen_name}]}

    def _send(self, params: dict[str, Any]) -> int:
        if "peer_id" not in params:  # the peer_ids form (one peer: how the bot uses it)
            params = {**params, "peer_id": str(params["peer_ids"]).split(",")[0]}
        peer_id = int(params["peer_id"])
        random_id = int(params.get("random_id", 0))
        if random_id and (peer_id, random_id) in self._by_random:
            return self._by_random[(peer_id, random_id)]
        message_id = next(self._ids)
        cmid = 0
        if peer_id >= 2_000_000_000:
            cmid = next(self._next_cmid.setdefault(peer_id, itertools.count(1_000_001)))
        self.messages[message_id] = Sent(
            message_id=message_id,
            peer_id=peer_id,
            text=str(params.get("message", "")),
            random_id=random_id,
            attachment=str(params.get("attachment", "")),
            reply_to=int(params.get("reply_to", 0) or 0),
            forward=str(params.get("forward", "")),
            received_at=time.monotonic(),
            cmid=cmid,
        )
        if random_id:
            self._by_random[(peer_id, random_id)] = message_id
        return message_id

    def _m_messages_send(self, params: dict[str, Any]) -> Any:
        if "peer_ids" in params:
            peers = [int(p) for p in str(params.pop("peer_ids")).split(",")]
            out = []
            for peer in peers:
                mid = self._send({**params, "peer_id": peer})
                cmid = self.messages[mid].cmid or mid
                out.append({"peer_id": peer, "message_id": mid, "conversation_message_id": cmid})
            return out
        return self._send(params)

    def _m_messages_edit(self, params: dict[str, Any]) -> Any:
        cmid = int(params.get("cmid") or params.get("conversation_message_id") or 0)
        if cmid:  # a chat message named by its conversation_message_id
            peer_id = int(params["peer_id"])
            found = [m for m in self.messages.values() if (m.peer_id, m.cmid) == (peer_id, cmid)]
            sent = found[0] if found else None
        else:
            sent = self.messages.get(int(params["message_id"]))
        if sent is not None:
            sent.edits.append(str(params.get("message", "")))
        return 1

    def _m_docs_getMessagesUploadServer(self, params: dict[str, Any]) -> Any:
        kind = str(params.get("type") or "doc")  # "doc" | "audio_message" | "graffiti"
        return {"upload_url": f"{self.base_url}/upload/{kind}"}

    def _m_photos_getMessagesUploadServer(self, params: dict[str, Any]) -> Any:
        return {"upload_url": f"{self.base_url}/upload/photo", "album_id": 1, "user_id": 0}

    def _m_docs_save(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file"])
        doc_id = next(self._ids)
        if file_id.startswith("audio_message"):  # uploaded for a voice message
            voice = {
                "id": doc_id,
                "owner_id": -self.group_id,
                "duration": 2,
                "waveform": [0, 10, 0],
                "link_ogg": f"{self.base_url}/files/{file_id}",
                "link_mp3": f"{self.base_url}/files/{file_id}",
                "access_key": f"ak{doc_id}",
                "file_id": file_id,
            }
            self.saved_docs.append({**voice, "type": "audio_message"})
            return {"type": "audio_message", "audio_message": voice}
        doc = {
            "id": doc_id,
            "owner_id": -self.group_id,
            "title": str(params.get("title", "")),
            "size": len(self.uploads.get(file_id, b"")),
            "ext": "mp4",
            "date": int(time.time()),
            "type": 6,
            "url": f"{self.base_url}/files/{file_id}",
            "access_key": f"ak{doc_id}",
            "file_id": file_id,
        }
        self.saved_docs.append(doc)
        return {"type": "doc", "doc": doc}

    def _m_video_save(self, params: dict[str, Any]) -> Any:
        video_id = next(self._ids)
        self.saved_videos.append({**params, "video_id": video_id})
        return {
            "upload_url": f"{self.base_url}/upload/video",
            "video_id": video_id,
            "owner_id": -int(params.get("group_id") or self.group_id),
            "title": params.get("name", ""),
            "access_key": f"vk{video_id}",
        }

    def _m_photos_saveMessagesPhoto(self, params: dict[str, Any]) -> Any:
        photo_id = next(self._ids)
        return [{"id": photo_id, "owner_id": -self.group_id, "access_key": f"pk{photo_id}"}]

    async def _long_poll(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        ts = int(params.get("ts", "0"))
        self.lp_requests += 1
        await self._notify()
        wait_s = min(float(params.get("wait", "25")), 25.0)
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self._events) > ts), wait_s
                )
            updates = self._events[ts:]
            new_ts = len(self._events)
        return web.json_response({"ts": str(new_ts), "updates": updates})

    async def _upload(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        reader = await request.multipart()
        data = b""
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name in ("file", "photo", "video_file"):
                data = bytes(await part.read())
        file_id = f"{kind}{next(self._ids)}"
        self.uploads[file_id] = data
        await self._notify()
        if kind == "photo":
            return web.json_response(
                {"server": 1, "photo": json.dumps([{"p": file_id}]), "hash": "h"}
            )
        return web.json_response({"file": file_id})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.file_hits[name] = self.file_hits.get(name, 0) + 1
        data = self.files.get(name)
        if data is None:
            data = self.uploads.get(name)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _redirect(self, request: web.Request) -> web.Response:
        """``/redirect?to=URL``: a 302, to check that every hop is checked against the allowlist."""
        self.file_hits["redirect"] = self.file_hits.get("redirect", 0) + 1
        raise web.HTTPFound(request.query["to"])

    def uploaded_doc_bytes(self, attachment: str) -> bytes:
        """The bytes behind a ``doc{owner}_{id}_{key}`` string in a sent message."""
        for doc in self.saved_docs:
            if f"doc{doc['owner_id']}_{doc['id']}" in attachment:
                return self.uploads[doc["file_id"]]
        raise KeyError(attachment)
