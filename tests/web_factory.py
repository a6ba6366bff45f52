"""Launch parameters and links for the page tests, signed the way VK and the bot sign them."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from bot.history import links

APP_SECRET = "wvl68m4dR1UpLrVRli"  # VK's public test vector's secret (docs/vk-api-notes.md)


def launch_query(user_id: int, *, lang: str = "ru", secret: str = APP_SECRET,
                 ts: float | None = None) -> str:  # fmt: skip
    params = {"vk_user_id": str(user_id), "vk_app_id": "6736218", "vk_is_app_user": "1",
              "vk_are_notifications_enabled": "1", "vk_language": lang, "vk_platform": "android",
              "vk_access_token_settings": "", "vk_ts": str(int(ts or time.time()))}  # fmt: skip
    params["sign"] = links.vk_launch_sign(params, secret)
    return urlencode(params)


def take_link(secret: bytes, take_id: str, owner: int, *, lang: str = "ru",
              expires: float | None = None) -> str:  # fmt: skip
    exp = int(expires or time.time() + 3600)
    return f"/t/{take_id}?{links.take_query(secret, take_id, owner, exp)}&l={lang}"
