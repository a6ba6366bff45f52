"""Who may open what: signed take links (ours) and VK Mini App launch signatures (VK's).

A take link carries its owner and expiry and an HMAC-SHA256 over take id, owner and expiry,
so the web process checks it with nothing but the secret: no session table to share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from bot.history.config import HistoryConfig

VK_TS_MAX_AGE_S = 2 * 3600.0  # VK's own examples treat an older launch as expired


def web_secret(config: HistoryConfig) -> bytes:
    """SMASK_WEB_SECRET, or one made once and kept (0600) in the shared history folder."""
    if config.web_secret:
        return config.web_secret.encode()
    path = config.root / ".web-secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    config.root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32))
    return Path(path).read_bytes().strip()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def take_signature(secret: bytes, take_id: str, owner: int, expires: int) -> str:
    message = f"take:{take_id}:{int(owner)}:{int(expires)}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def take_query(secret: bytes, take_id: str, owner: int, expires: int) -> str:
    sig = take_signature(secret, take_id, owner, expires)
    return urlencode({"u": int(owner), "e": int(expires), "s": sig})


def take_path(secret: bytes, take_id: str, owner: int, expires: int) -> str:
    return f"/t/{take_id}?{take_query(secret, take_id, owner, expires)}"


def take_url(config: HistoryConfig, take_id: str, owner: int, now: float | None = None) -> str:
    """The link a result reply carries; empty when SMASK_PUBLIC_URL is not set."""
    if not config.public_url:
        return ""
    expires = int((time.time() if now is None else now) + config.link_days * 86400)
    return config.public_url + take_path(web_secret(config), take_id, owner, expires)


LIST = "all"  # signs a learner's whole list; no take id looks like it (TAKE_ID_RE: 20+ chars)


def history_url(config: HistoryConfig, owner: int, now: float | None = None) -> str:
    """A signed link to all of a learner's takes, for /history's answer (outside the Mini App
    no VK launch parameters vouch for the user, so the link itself does)."""
    if not config.public_url:
        return ""
    expires = int((time.time() if now is None else now) + config.link_days * 86400)
    query = take_query(web_secret(config), LIST, owner, expires)
    return f"{config.public_url}/me?{query}"


def check_take(secret: bytes, take_id: str, query: Mapping[str, str], now: float | None = None
               ) -> int | None:  # fmt: skip
    """The owner a take link was signed for, or None (missing, tampered or expired)."""
    try:
        owner, expires, sig = int(query["u"]), int(query["e"]), str(query["s"])
    except (KeyError, ValueError):
        return None
    if expires < (time.time() if now is None else now):
        return None
    good = take_signature(secret, take_id, owner, expires)
    return owner if hmac.compare_digest(good, sig) else None


def vk_launch_sign(params: Mapping[str, str], app_secret: str) -> str:
    """VK's rule: HMAC-SHA256 over the sorted vk_* parameters, URL-encoded, base64url."""
    vk = sorted((k, v) for k, v in params.items() if k.startswith("vk_"))
    digest = hmac.new(app_secret.encode(), urlencode(vk).encode(), hashlib.sha256).digest()
    return _b64(digest)


def check_launch(params: Mapping[str, str], app_secret: str, now: float | None = None
                 ) -> int | None:  # fmt: skip
    """The VK user id of a valid, fresh Mini App launch, or None."""
    if not app_secret:
        return None
    sign = params.get("sign", "")
    if not sign or not hmac.compare_digest(vk_launch_sign(params, app_secret), sign):
        return None
    try:
        ts = float(params["vk_ts"])
        user_id = int(params["vk_user_id"])
    except (KeyError, ValueError):
        return None
    now = time.time() if now is None else now
    if not (now - VK_TS_MAX_AGE_S <= ts <= now + 300):
        return None
    return user_id if user_id > 0 else None
