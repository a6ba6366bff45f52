"""Each user's correction settings (key, A4, mode, instrument, language, tune), kept between chats.

Stored next to the job table (same SQLite file, or the same Redis) so every worker host sees
the settings a job was submitted with; the job itself carries a snapshot of them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from bot.settings import Settings
from bot.sqlite_store import connect

MODES = ("natural", "hard")
LANGUAGES = ("ru", "en")


@dataclass(frozen=True)
class UserPrefs:
    """A user's choices; ``key``/``scale``/``a4_hz`` None means "detect from the clip"."""

    lang: str = "ru"
    key: str | None = None  # tonic note name, e.g. "C", "F#", "Bb"
    scale: str | None = None  # "major", "minor", "chromatic"...
    a4_hz: float | None = 440.0
    mode: str = "natural"
    instrument: str | None = None
    tune: dict[str, Any] | None = None  # the current tune, core.score.model.Score.to_dict()
    fix_wrong_notes: bool = False

    def to_options(self) -> dict[str, Any]:
        """The fields that travel with a job to the pipeline's CorrectOptions.

        None means "the pipeline's default" for every field but ``a4_hz``, where the default is
        440 Hz and None asks for the estimate (see bot.worker.NONE_MEANS_ESTIMATE).
        """
        return {
            "key": self.key,
            "scale": self.scale,
            "a4_hz": self.a4_hz,
            "mode": self.mode,
            "instrument": self.instrument,
            "score": self.tune,
            "fix_wrong_notes": self.fix_wrong_notes,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> UserPrefs:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


class PrefsStore(Protocol):
    def get(self, user_id: int) -> UserPrefs: ...

    def put(self, user_id: int, prefs: UserPrefs) -> None: ...

    def delete(self, user_id: int) -> None: ...


class SqlitePrefsStore:
    def __init__(self, path: Path, *, default_lang: str = "ru") -> None:
        self.path = Path(path)
        self.default = UserPrefs(lang=default_lang)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS prefs (user_id INTEGER PRIMARY KEY, data TEXT NOT NULL)"
            )

    def get(self, user_id: int) -> UserPrefs:
        with connect(self.path) as conn:
            row = conn.execute("SELECT data FROM prefs WHERE user_id = ?", (user_id,)).fetchone()
        return self.default if row is None else UserPrefs.from_dict(json.loads(row[0]))

    def put(self, user_id: int, prefs: UserPrefs) -> None:
        with connect(self.path) as conn:
            conn.execute(
                "INSERT INTO prefs (user_id, data) VALUES (?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET data = excluded.data",
                (user_id, json.dumps(asdict(prefs))),
            )

    def delete(self, user_id: int) -> None:
        """/forget: the settings and the tune go with the row."""
        with connect(self.path) as conn:
            conn.execute("DELETE FROM prefs WHERE user_id = ?", (user_id,))


class RedisPrefsStore:
    def __init__(self, url: str, *, default_lang: str = "ru", prefix: str = "smask:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self.default = UserPrefs(lang=default_lang)
        self.prefix = prefix

    def get(self, user_id: int) -> UserPrefs:
        raw = self._redis.get(f"{self.prefix}prefs:{user_id}")
        return self.default if raw is None else UserPrefs.from_dict(json.loads(raw))

    def put(self, user_id: int, prefs: UserPrefs) -> None:
        self._redis.set(f"{self.prefix}prefs:{user_id}", json.dumps(asdict(prefs)))

    def delete(self, user_id: int) -> None:
        self._redis.delete(f"{self.prefix}prefs:{user_id}")


def make_prefs_store(settings: Settings) -> PrefsStore:
    if settings.redis_url:
        return RedisPrefsStore(settings.redis_url, default_lang=settings.default_language)
    return SqlitePrefsStore(settings.jobs_path, default_lang=settings.default_language)


__all__ = ["LANGUAGES", "MODES", "PrefsStore", "UserPrefs", "make_prefs_store"]
