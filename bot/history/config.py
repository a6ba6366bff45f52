"""Where the history lives and how long it is kept, read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DAYS = 180.0
# 60 s of Opus at 48 kbit/s is ~360 KB for one side, ~0.75 MB a take: 100 MB keeps ~130
# one-minute takes, several months of daily practice.
DEFAULT_MAX_MB_PER_USER = 100.0
DEFAULT_LINK_DAYS = 30.0


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class HistoryConfig:
    """The history's folder, retention and the web page's settings.

    ``days`` 0 keeps nothing (history off). ``web_secret`` empty: a secret is made once and
    kept in the history folder, so every process that shares the folder signs alike.
    """

    root: Path
    days: float = DEFAULT_DAYS
    max_bytes_per_user: int = int(DEFAULT_MAX_MB_PER_USER * 2**20)
    public_url: str = ""
    web_secret: str = field(default="", repr=False)
    vk_app_secret: str = field(default="", repr=False)
    link_days: float = DEFAULT_LINK_DAYS
    web_host: str = "127.0.0.1"
    web_port: int = 0

    @property
    def enabled(self) -> bool:
        return self.days > 0

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, state_dir: Path | None = None
    ) -> HistoryConfig:
        """``state_dir``: the service's resolved state folder (Settings.state_dir), where the
        history lives unless SMASK_HISTORY_DIR names another (a shared one, scaled out)."""
        env = os.environ if env is None else env
        state = state_dir or Path(env.get("SMASK_STATE_DIR", "").strip() or "var")
        root = Path(env.get("SMASK_HISTORY_DIR", "").strip() or state / "history").resolve()
        max_mb = _float(env, "SMASK_HISTORY_MAX_MB_PER_USER", DEFAULT_MAX_MB_PER_USER)
        return cls(
            root=root,
            days=_float(env, "SMASK_HISTORY_DAYS", DEFAULT_DAYS),
            max_bytes_per_user=int(max_mb * 2**20),
            public_url=env.get("SMASK_PUBLIC_URL", "").strip().rstrip("/"),
            web_secret=env.get("SMASK_WEB_SECRET", "").strip(),
            vk_app_secret=env.get("VK_APP_SECRET", "").strip(),
            link_days=_float(env, "SMASK_WEB_LINK_DAYS", DEFAULT_LINK_DAYS),
            web_host=env.get("SMASK_WEB_HOST", "").strip() or "127.0.0.1",
            web_port=int(_float(env, "SMASK_WEB_PORT", 0)),
        )
