"""Everything the service says to VK: the API client, sends, edits and result delivery.

Every ``messages.send`` carries a random_id derived from the job (bot.jobs.random_id_for), so
VK itself drops a repeat: a retried call or a re-run job can never post a second answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
from vkbottle import (
    API,
    AiohttpClient,
    DocMessagesUploader,
    PhotoMessageUploader,
    VideoUploader,
    VKAPIError,
    VoiceMessageUploader,
)

from bot.errors import RETRY_CODES, backoff_delay_s, log_operator_error
from bot.jobs import Job, random_id_for
from bot.logsafe import describe_error
from bot.settings import Settings

log = logging.getLogger("smask.vk")
UPLOAD_BUDGET_S = 1800.0  # s: a 200 MB result over a slow (1 Mbit/s) uplink, and no more


class RetryingAPI(API):
    """vkbottle's API plus back-off on VK errors 6, 9, 10 and 29 (vkbottle retries none).

    ``api_url`` points the client at a fake VK server in tests. ``timeout_s`` bounds
    connecting and each wait for VK's answer, so an unreachable VK fails a job's step instead
    of hanging it for aiohttp's default five minutes; a slow upload of a large result may take
    up to ``UPLOAD_BUDGET_S``.
    """

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        retries: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
    ) -> None:
        # A fresh client per API: vkbottle's default is a process-wide singleton session.
        # The uploaders post the result (up to 200 MB) through this same session, so the
        # whole-call bound is an upload's budget; a VK that stops answering is caught by the
        # connect and read bounds (aiohttp starts the read clock once the body is sent).
        timeout = aiohttp.ClientTimeout(
            total=max(timeout_s, UPLOAD_BUDGET_S),
            sock_connect=min(timeout_s / 2, 15.0),
            sock_read=timeout_s,
        )
        super().__init__(token, http_client=AiohttpClient(timeout=timeout))
        if api_url:
            self.API_URL = api_url
        self.retries = retries
        self.backoff_s = backoff_s

    async def request(
        self, method: str, data: dict[str, Any], version: str | None = None
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return await super().request(method, dict(data), version)
            except VKAPIError as exc:
                code = int(getattr(exc, "code", 0) or 0)
                if code in RETRY_CODES and attempt < self.retries:
                    delay = backoff_delay_s(attempt, self.backoff_s)
                    log.warning(
                        "VK error %s on %s, retry %d in %.2f s", code, method, attempt + 1, delay
                    )
                    attempt += 1
                    await asyncio.sleep(delay)  # back-off, not synchronisation
                    continue
                log_operator_error(code, method, data.get("peer_id"))
                raise


def make_api(settings: Settings, *, user: bool = False) -> RetryingAPI:
    """The community's API client (or, with ``user=True``, the operator's user-token client)."""
    return RetryingAPI(
        settings.vk_user_token if user else settings.vk_token,
        api_url=settings.api_url,
        retries=settings.vk_retries,
        backoff_s=settings.vk_backoff_s,
        timeout_s=settings.vk_timeout_s,
    )


CHAT_PEER_MIN = 2_000_000_000  # peer ids of group chats start here


def is_chat(peer_id: int) -> bool:
    return peer_id >= CHAT_PEER_MIN


def reply_params(peer_id: int, message_id: int, cmid: int) -> dict[str, Any]:
    """Point an answer at the user's message, so a class chat sees whose take it answers.

    In a group chat the community may see the message as ``id == 0``, and ``reply_to`` takes
    only a message id: there the answer forwards the message by its conversation_message_id
    with ``is_reply`` (docs/vk-api-notes.md, "Group chats"). A private chat keeps ``reply_to``.
    """
    if cmid and (is_chat(peer_id) or not message_id):
        forward = {"peer_id": peer_id, "conversation_message_ids": [cmid], "is_reply": 1}
        return {"forward": json.dumps(forward)}
    if message_id:
        return {"reply_to": message_id}
    return {}


def _reply_params(job: Job) -> dict[str, Any]:
    return reply_params(job.peer_id, job.message_id, job.cmid)


async def send_ids(
    api: API,
    peer_id: int,
    text: str,
    *,
    random_id: int,
    attachment: str = "",
    reply: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """``messages.send`` with a caller-chosen random_id; returns (message id, cmid).

    In a group chat the message is sent with ``peer_ids``, the form whose answer carries the
    conversation_message_id: the only handle by which a community can edit its message there.
    Elsewhere the plain ``peer_id`` form answers the message id alone (cmid 0).
    """
    params: dict[str, Any] = {"message": text, "random_id": random_id}
    if is_chat(peer_id):
        params["peer_ids"] = str(peer_id)
    else:
        params["peer_id"] = peer_id
    if attachment:
        params["attachment"] = attachment
    params.update(reply or {})
    response = await api.request("messages.send", params)
    result = response["response"]
    if isinstance(result, list):  # the peer_ids form answers a list
        first = result[0] if result else {}
        return int(first.get("message_id") or 0), int(first.get("conversation_message_id") or 0)
    return int(result), 0


async def send(
    api: API,
    peer_id: int,
    text: str,
    *,
    random_id: int,
    attachment: str = "",
    reply: dict[str, Any] | None = None,
) -> int:
    """``messages.send`` with a caller-chosen random_id; returns the message id (or, in a chat
    where VK gives none, the conversation_message_id)."""
    message_id, cmid = await send_ids(
        api, peer_id, text, random_id=random_id, attachment=attachment, reply=reply
    )
    return message_id or cmid


async def edit(api: API, peer_id: int, message_id: int, text: str, *, cmid: int = 0) -> bool:
    """Edit our own message; progress is cosmetic, so a failed edit is logged and ignored.

    In a group chat the message is named by ``cmid`` (docs/vk-api-notes.md), elsewhere by
    its id; a chat message whose cmid we never learned is left as it is. VK errors and an
    unreachable VK alike: the job goes on, and the answer itself is what must arrive.
    """
    params: dict[str, Any] = {"peer_id": peer_id, "message": text}
    if is_chat(peer_id):
        if not cmid:
            return False
        params["cmid"] = cmid
    elif message_id:
        params["message_id"] = message_id
    else:
        return False
    try:
        await api.request("messages.edit", params)
    except (VKAPIError, aiohttp.ClientError, TimeoutError) as exc:
        log.info(
            "could not edit message %s in %s: %s", message_id or cmid, peer_id, describe_error(exc)
        )
        return False
    return True


def has_ack(job: Job) -> bool:
    """Whether the job's acknowledgement is known well enough to edit (see ``edit``)."""
    return bool(job.reply_cmid if is_chat(job.peer_id) else job.reply_message_id)


async def edit_ack(api: API, job: Job, text: str) -> bool:
    """Edit the job's "queued" acknowledgement to ``text`` (progress or its final state)."""
    if not has_ack(job):
        return False
    return await edit(api, job.peer_id, job.reply_message_id, text, cmid=job.reply_cmid)


async def send_job_text(api: API, job: Job, text: str, *, purpose: str) -> int:
    """A text answer to the job's message, posted at most once per (job, purpose)."""
    return await send(
        api,
        job.peer_id,
        text,
        random_id=random_id_for(job.job_id, purpose),
        reply=_reply_params(job),
    )


def result_title(job: Job, suffix: str = ".mp4") -> str:
    """``<original name>_tuned.mp4`` (or ``.ogg``, ``.mp3``...: the result's own format); the
    ending keeps VK from calling it doc.txt."""
    stem = Path(job.doc_title or "clip").stem[:60] or "clip"
    safe = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in stem).strip() or "clip"
    return f"{safe}_tuned{suffix}"


async def deliver(
    api: API,
    job: Job,
    video_path: Path,
    text: str,
    plot_path: Path | None = None,
    *,
    video_api: API | None = None,
    group_id: int | None = None,
) -> int:
    """Upload the corrected clip (and the pitch picture) and answer the user's message.

    Args:
        video_api: a user-token API; when given, the clip is also saved as a playable video
            in the community's videos (optional: community tokens cannot call video.save).

    Returns:
        the id of our answer message.
    """
    doc = await DocMessagesUploader(api).upload(
        file_source=str(video_path),
        peer_id=job.peer_id,
        title=result_title(job, video_path.suffix or ".mp4"),
    )
    attachments = [doc]
    if video_api is not None:
        try:
            attachments.append(
                await VideoUploader(video_api).upload(
                    file_source=str(video_path),
                    name=result_title(job),
                    group_id=group_id,
                    wallpost=False,
                    is_private=True,
                )
            )
        except Exception as exc:  # the doc is the product; the playable copy is a bonus
            log.warning("video upload failed for job %s: %s", job.job_id, describe_error(exc))
    attachments += await _picture(api, job, plot_path)
    return await send(
        api,
        job.peer_id,
        text,
        random_id=random_id_for(job.job_id, "result"),
        attachment=",".join(attachments),
        reply=_reply_params(job),
    )


async def _picture(api: API, job: Job, plot_path: Path | None) -> list[str]:
    """The pitch picture as an attachment, or nothing: the sound matters more than its plot.

    Any failure (a VK error, a network timeout) leaves the picture out rather than failing a
    job whose corrected take is already uploaded or sent.
    """
    if plot_path is None or not plot_path.exists():
        return []
    try:
        return [
            await PhotoMessageUploader(api).upload(file_source=str(plot_path), peer_id=job.peer_id)
        ]
    except Exception as exc:
        log.warning("pitch picture upload failed for job %s: %s", job.job_id, describe_error(exc))
        return []


async def upload_voice(api: API, job: Job, ogg_path: Path) -> str:
    """Upload OGG/Opus as a voice message; returns its ``doc{owner}_{id}[_{key}]`` string.

    ``docs.getMessagesUploadServer(type=audio_message, peer_id)`` -> POST -> ``docs.save``
    answers ``{"type": "audio_message", "audio_message": {...}}``; a voice message is a doc
    to ``messages.send``, so the string says ``doc`` whatever the saved type is called.
    """
    saved = await VoiceMessageUploader(api).raw_upload(
        file_source=str(ogg_path), peer_id=job.peer_id, title="voice.ogg"
    )
    item = saved[saved["type"]]
    key = item.get("access_key")
    return f"doc{item['owner_id']}_{item['id']}" + (f"_{key}" if key else "")


async def deliver_voice(
    api: API, job: Job, ogg_path: Path, text: str, plot_path: Path | None = None
) -> int:
    """Answer a voice message with a voice message, then the summary and picture.

    Two messages, both replies to the user's: VK shows a voice message alone in its bubble,
    so the report goes beside it. Each has its own stable random_id ("result", "report"),
    so a re-run job posts neither twice. Returns the voice message's id.
    """
    voice = await upload_voice(api, job, ogg_path)
    message_id = await send(
        api,
        job.peer_id,
        "",
        random_id=random_id_for(job.job_id, "result"),
        attachment=voice,
        reply=_reply_params(job),
    )
    await send(
        api,
        job.peer_id,
        text,
        random_id=random_id_for(job.job_id, "report"),
        attachment=",".join(await _picture(api, job, plot_path)),
        reply=_reply_params(job),
    )
    return message_id
