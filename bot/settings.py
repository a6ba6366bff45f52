"""Service configuration, read once from the environment.

One frozen object is passed everywhere so that a test can build a whole service pointed at a
fake VK server and a temporary queue without touching ``os.environ``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from bot.logsafe import redact
from core.limits import MediaLimits

# VK serves message documents from these domains (userapi.com CDN, vk.com / vk.ru docs, and the
# vkuserdata CDN used since 2024); a doc URL on any other host is refused before a byte is read.
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = (
    "*.userapi.com",
    "userapi.com",
    "*.vk.com",
    "vk.com",
    "*.vk.ru",
    "vk.ru",
    "*.vkuserdata.com",
    "*.vk-cdn.net",
    "*.vkuseraudio.net",
    "*.vkuservideo.net",
)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw[:20]!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw[:20]!r}") from None


def mask_url(url: str | None) -> str | None:
    """``url`` with its password (``user:pass@`` or ``?password=``) replaced by ``***``."""
    if not url:
        return url
    return redact(url)


@dataclass(frozen=True)
class Settings:
    """Everything the bot and its workers need to know.

    Attributes:
        vk_token: community token; ``repr=False`` so it never reaches a log line or traceback.
        group_id: community id (positive); lets long poll skip the ``groups.getById`` lookup.
        vk_user_token: optional *user* token with video rights (an admin of the community);
            when set, the result is also posted as a playable video (``video.save``), which a
            community token cannot do. ``repr=False`` like the community token.
        state_dir: where the service keeps its files (vkbottle's long-poll position included).
        redis_url: when set, jobs and the huey queue live in Redis so many workers share them.
        queue_path: SQLite file for the embedded huey queue (used without Redis).
        jobs_path: SQLite file for our durable job table and user settings (without Redis).
        api_url: VK API base URL; tests point it at a fake server on 127.0.0.1.
        allowed_hosts: host patterns (``*.`` prefix = any subdomain) a clip may be downloaded from.
        max_download_bytes: cap on a clip's size, enforced on the declared size and while streaming.
        download_timeout_s: total time allowed to download one clip.
        max_waiting_per_user: jobs one user may have queued or running at once.
        max_clips_per_hour: clips one user may submit in any rolling hour.
        max_queue_length: jobs queued or running across all users before new ones are refused.
        lease_s: how long a worker owns a running job without renewing its lease.
        stale_queued_s: how long a queued job may sit unclaimed before the sweeper re-enqueues it.
        sweep_interval_s: how often each worker looks for expired leases.
        workers: huey worker threads per worker process.
        tracker: pitch model: a shipped name ("auto", "default", "refiner") or a .pt file.
        device: torch device for the pipeline (``cpu``, ``cuda``, ``cuda:1``...); None = auto.
        default_language: reply language for users who chose none (``ru`` or ``en``).
        work_dir: scratch space for downloads and results (one sub-directory per job).
        callback_port: when set, receive events through the Callback API on this port instead of
            long poll (production behind an HTTPS proxy).
        callback_host: interface the callback server binds to.
        callback_path: URL path VK posts to.
        callback_confirmation: the confirmation code shown in the community's Callback settings.
        callback_secret: the secret key set there; events without it are refused.
        callback_read_timeout_s: a connection must deliver a whole request (headers and body)
            this soon after it opens or after our last answer on it, or it is closed.
        callback_max_connections: open connections at most (capped at half the open-file limit);
            past it the oldest one still sending its request is closed.
        vk_retries: attempts for a VK call answered with error 6, 9, 29 or 10.
        vk_backoff_s: first back-off delay; doubles per attempt.
        vk_timeout_s: limit on one HTTP call to VK (connecting, sending, reading the answer).
        job_retention_s: finished jobs are deleted this long after they were submitted (at
            least an hour: the per-user hourly limit counts them).
        worker_max_deaths: ``smask bot`` exits non-zero when its embedded worker died this
            many times within ``worker_death_window_s``.
        worker_death_window_s: see ``worker_max_deaths``.
        worker_restart_backoff_s: delay before restarting a dead worker; doubles per recent death.
        worker_stop_timeout_s: how long ``smask bot`` lets its embedded worker finish the
            running job when stopping, before it SIGKILLs it; by default the longest job
            (see ``longest_job_s``), so a deploy never cuts a job short.
    """

    vk_token: str = field(repr=False)
    group_id: int
    vk_user_token: str = field(default="", repr=False)
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    state_dir: Path = Path("var")
    queue_path: Path = Path("var/smask-queue.db")
    jobs_path: Path = Path("var/smask-jobs.db")
    api_url: str | None = None
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    max_download_bytes: int = 200 * 1024 * 1024  # bytes; VK's own doc limit
    download_timeout_s: float = 120.0
    max_waiting_per_user: int = 3
    max_clips_per_hour: int = 20
    max_queue_length: int = 500
    lease_s: float = 600.0
    stale_queued_s: float = 900.0
    health_max_queued_s: float = 0.0  # `smask health`: unhealthy past this wait (0: off)
    sweep_interval_s: float = 30.0
    workers: int = 1
    tracker: str = "auto"
    device: str | None = None
    default_language: str = "ru"
    work_dir: Path = Path("var/work")
    vk_retries: int = 5
    vk_backoff_s: float = 0.5
    vk_timeout_s: float = 60.0
    job_retention_s: float = 7 * 24 * 3600.0
    worker_max_deaths: int = 5
    worker_death_window_s: float = 300.0
    worker_restart_backoff_s: float = 1.0
    worker_stop_timeout_s: float = 840.0  # longest_job_s() at the defaults
    callback_port: int | None = None
    callback_host: str = "0.0.0.0"
    callback_path: str = "/vk/callback"
    callback_confirmation: str = ""
    callback_secret: str = field(default="", repr=False)
    callback_read_timeout_s: float = 5.0
    callback_max_connections: int = 256

    def secrets(self) -> tuple[str, ...]:
        """Every credential these settings hold, for the log filter to hide wherever it occurs."""
        found = [self.vk_token, self.vk_user_token, self.callback_secret]
        if self.redis_url:
            parts = urlsplit(self.redis_url)
            with contextlib.suppress(ValueError):
                found.append(parts.password or "")
            found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
        return tuple(s for s in found if s)

    @staticmethod
    def longest_job_s(download_timeout_s: float, max_clip_s: float, vk_timeout_s: float) -> float:
        """A bound on one job: the download at its time limit, the longest clip processed at
        real time (the bench does a 600 s clip in 14 s on 2 CPUs, so this is generous), and
        the result's upload and save, each within a VK call's limit."""
        return download_timeout_s + max_clip_s + 2 * vk_timeout_s

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``VK_*`` and ``SMASK_*`` variables (see .env.example)."""
        env = os.environ if env is None else env
        token = env.get("VK_TOKEN", "").strip()
        if not token:
            raise ValueError("VK_TOKEN is not set (community token with messages and docs rights)")
        group_raw = env.get("VK_GROUP_ID", "").strip()
        if not group_raw:
            raise ValueError("VK_GROUP_ID is not set (the community's numeric id)")
        hosts_raw = env.get("SMASK_ALLOWED_HOSTS", "").strip()
        hosts = (
            tuple(h.strip() for h in hosts_raw.split(",") if h.strip())
            if hosts_raw
            else DEFAULT_ALLOWED_HOSTS
        )
        extra = env.get("SMASK_EXTRA_ALLOWED_HOSTS", "").strip()
        if extra:
            hosts = hosts + tuple(h.strip() for h in extra.split(",") if h.strip())
        # One directory for everything the service writes (the image mounts a volume there).
        state = Path(env.get("SMASK_STATE_DIR", "").strip() or "var").resolve()
        language = env.get("SMASK_LANGUAGE", "ru").strip() or "ru"
        if language not in ("ru", "en"):
            raise ValueError(f"SMASK_LANGUAGE must be ru or en, not {language!r}")
        callback_port = _int(env, "VK_CALLBACK_PORT", 0) or None
        callback_secret = env.get("VK_CALLBACK_SECRET", "").strip()
        if callback_port and not callback_secret:
            raise ValueError(
                "VK_CALLBACK_PORT is set but VK_CALLBACK_SECRET is not: without the secret key "
                "from the community's Callback API settings anyone could post fake events"
            )
        health_max_queued_s = _float(env, "SMASK_HEALTH_MAX_QUEUED_S", 0.0)
        if not health_max_queued_s >= 0:  # also refuses NaN
            raise ValueError("SMASK_HEALTH_MAX_QUEUED_S must be 0 (off) or more seconds")
        retention_s = _float(env, "SMASK_JOB_RETENTION_S", 7 * 24 * 3600.0)
        if retention_s < 3600:
            raise ValueError(
                "SMASK_JOB_RETENTION_S must be at least 3600: the per-user hourly limit counts "
                "the last hour's finished jobs"
            )
        download_timeout_s = _float(env, "SMASK_DOWNLOAD_TIMEOUT_S", 120.0)
        vk_timeout_s = _float(env, "SMASK_VK_TIMEOUT_S", 60.0)
        longest_job_s = cls.longest_job_s(
            download_timeout_s, MediaLimits.from_env(env).max_duration_s, vk_timeout_s
        )
        stop_timeout_s = _float(env, "SMASK_WORKER_STOP_TIMEOUT_S", longest_job_s)
        if not stop_timeout_s > 0:  # also refuses NaN
            raise ValueError("SMASK_WORKER_STOP_TIMEOUT_S must be a positive number of seconds")
        return cls(
            vk_token=token,
            group_id=abs(int(group_raw)),
            vk_user_token=env.get("VK_USER_TOKEN", "").strip(),
            redis_url=env.get("SMASK_REDIS_URL", "").strip() or None,
            state_dir=state,
            queue_path=Path(
                env.get("SMASK_QUEUE_PATH", "").strip() or state / "smask-queue.db"
            ).resolve(),
            jobs_path=Path(
                env.get("SMASK_JOBS_PATH", "").strip() or state / "smask-jobs.db"
            ).resolve(),
            api_url=env.get("VK_API_URL", "").strip() or None,
            allowed_hosts=hosts,
            max_download_bytes=_int(
                env, "SMASK_MAX_DOWNLOAD_BYTES", _int(env, "SMASK_MAX_BYTES", 200 * 1024 * 1024)
            ),
            download_timeout_s=download_timeout_s,
            max_waiting_per_user=_int(env, "SMASK_MAX_WAITING_PER_USER", 3),
            max_clips_per_hour=_int(env, "SMASK_MAX_CLIPS_PER_HOUR", 20),
            max_queue_length=_int(env, "SMASK_MAX_QUEUE_LENGTH", 500),
            lease_s=_float(env, "SMASK_LEASE_S", 600.0),
            stale_queued_s=_float(env, "SMASK_STALE_QUEUED_S", 900.0),
            health_max_queued_s=health_max_queued_s,
            sweep_interval_s=_float(env, "SMASK_SWEEP_INTERVAL_S", 30.0),
            workers=_int(env, "SMASK_WORKERS", 1),
            tracker=env.get("SMASK_TRACKER", "").strip() or "auto",
            device=env.get("SMASK_DEVICE", "").strip() or None,
            default_language=language,
            work_dir=Path(env.get("SMASK_WORK_DIR", "").strip() or state / "work").resolve(),
            vk_retries=_int(env, "SMASK_VK_RETRIES", 5),
            vk_backoff_s=_float(env, "SMASK_VK_BACKOFF_S", 0.5),
            vk_timeout_s=vk_timeout_s,
            job_retention_s=retention_s,
            worker_max_deaths=_int(env, "SMASK_WORKER_MAX_DEATHS", 5),
            worker_death_window_s=_float(env, "SMASK_WORKER_DEATH_WINDOW_S", 300.0),
            worker_restart_backoff_s=_float(env, "SMASK_WORKER_RESTART_BACKOFF_S", 1.0),
            worker_stop_timeout_s=stop_timeout_s,
            callback_port=callback_port,
            callback_host=env.get("VK_CALLBACK_HOST", "").strip() or "0.0.0.0",
            callback_path=env.get("VK_CALLBACK_PATH", "").strip() or "/vk/callback",
            callback_confirmation=env.get("VK_CALLBACK_CONFIRMATION", "").strip(),
            callback_secret=callback_secret,
            callback_read_timeout_s=_float(env, "VK_CALLBACK_READ_TIMEOUT_S", 5.0),
            callback_max_connections=_int(env, "VK_CALLBACK_MAX_CONNECTIONS", 256),
        )
