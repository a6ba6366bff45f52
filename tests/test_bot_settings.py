"""Configuration from the environment, and the token kept out of every printout."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakevk import FakeVK

from bot.cli import startup_line
from bot.download import DownloadError, download, host_allowed
from bot.settings import DEFAULT_ALLOWED_HOSTS, Settings, mask_url

ENV = {"VK_TOKEN": "secret-token-123", "VK_GROUP_ID": "-42"}


def test_from_env_reads_and_hides_the_token() -> None:
    settings = Settings.from_env(
        {**ENV, "SMASK_REDIS_URL": "redis://r:6379/0", "SMASK_WORKERS": "3"}
    )
    assert settings.group_id == 42
    assert settings.redis_url == "redis://r:6379/0" and settings.workers == 3
    assert "secret-token-123" not in repr(settings) and "secret-token-123" not in str(settings)


def test_missing_token_or_group_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="VK_TOKEN"):
        Settings.from_env({"VK_GROUP_ID": "1"})
    with pytest.raises(ValueError, match="VK_GROUP_ID"):
        Settings.from_env({"VK_TOKEN": "x"})
    with pytest.raises(ValueError, match="SMASK_LANGUAGE"):
        Settings.from_env({**ENV, "SMASK_LANGUAGE": "de"})


def test_redis_password_never_reaches_the_startup_log_line() -> None:
    settings = Settings.from_env({**ENV, "SMASK_REDIS_URL": "redis://:s3cret@h:6379/0"})
    assert settings.redis_url == "redis://:s3cret@h:6379/0"  # the client still gets it
    line = startup_line(settings)
    assert "s3cret" not in line and "secret-token-123" not in line
    assert "redis://:***@h:6379/0" in line
    assert "s3cret" not in repr(settings)
    assert mask_url("redis://user:pw@[::1]:6380/1") == "redis://user:***@[::1]:6380/1"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0" and mask_url(None) is None


def test_a_query_string_redis_password_is_masked_too() -> None:
    url = "redis://h:6379/0?password=qu3ry-pw&socket_timeout=5"
    settings = Settings.from_env({**ENV, "SMASK_REDIS_URL": url})
    line = startup_line(settings)
    assert "qu3ry-pw" not in line
    assert "redis://h:6379/0?password=***&socket_timeout=5" in line
    assert "qu3ry-pw" in settings.secrets()  # the log filter hides it wherever it turns up


def test_job_retention_is_at_least_an_hour() -> None:
    assert Settings.from_env(ENV).job_retention_s == 7 * 24 * 3600
    assert Settings.from_env({**ENV, "SMASK_JOB_RETENTION_S": "7200"}).job_retention_s == 7200
    with pytest.raises(ValueError, match="SMASK_JOB_RETENTION_S"):
        Settings.from_env({**ENV, "SMASK_JOB_RETENTION_S": "60"})


def test_callback_port_needs_the_secret() -> None:
    with pytest.raises(ValueError, match="VK_CALLBACK_SECRET"):
        Settings.from_env({**ENV, "VK_CALLBACK_PORT": "8080"})
    settings = Settings.from_env({**ENV, "VK_CALLBACK_PORT": "8080", "VK_CALLBACK_SECRET": "k"})
    assert settings.callback_port == 8080 and settings.callback_secret == "k"


def test_allowlist_defaults_and_extension() -> None:
    assert Settings.from_env(ENV).allowed_hosts == DEFAULT_ALLOWED_HOSTS
    extended = Settings.from_env({**ENV, "SMASK_EXTRA_ALLOWED_HOSTS": "127.0.0.1"})
    assert extended.allowed_hosts[-1] == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://psv4.userapi.com/c237331/u1/docs/abc/take.mp4?extra=1", True),
        ("https://vk.com/doc1_2?hash=x", True),
        ("https://sun9-1.vkuserdata.com/x.mp4", True),
        ("http://psv4.userapi.com/x.mp4", False),  # plain http only on loopback
        ("https://userapi.com.evil.example/x.mp4", False),
        ("https://evilvk.com/x.mp4", False),
        ("https://user:pw@vk.com/x", False),
        ("file:///etc/passwd", False),
        ("ftp://vk.com/x", False),
        ("http://127.0.0.1:8000/x.mp4", False),  # loopback must be allowed explicitly
    ],
)
def test_host_allowlist(url: str, allowed: bool) -> None:
    assert host_allowed(url, DEFAULT_ALLOWED_HOSTS) is allowed


async def test_download_streams_caps_and_checks_every_redirect(tmp_path: Path) -> None:
    fake = await FakeVK().start()
    try:
        url = fake.add_file("a.bin", b"a" * 5000)
        hosts = ("127.0.0.1",)
        assert await download(url, tmp_path / "a", allowed_hosts=hosts, max_bytes=6000,
                              timeout_s=10) == 5000  # fmt: skip
        assert (tmp_path / "a").read_bytes() == b"a" * 5000
        with pytest.raises(DownloadError) as exc:
            await download(url, tmp_path / "b", allowed_hosts=hosts, max_bytes=4000, timeout_s=10)
        assert exc.value.code == "too_large" and not (tmp_path / "b").exists()
        with pytest.raises(DownloadError) as exc:
            await download(url, tmp_path / "c", allowed_hosts=hosts, max_bytes=10**6,
                           timeout_s=10, declared_size=10**7)  # fmt: skip
        assert exc.value.code == "declared_too_large"
        # a redirect from an allowed host to a foreign one is refused at the hop
        hop = f"{fake.base_url}/redirect?to=https://evil.example.com/x.mp4"
        with pytest.raises(DownloadError) as exc:
            await download(hop, tmp_path / "d", allowed_hosts=hosts, max_bytes=10**6, timeout_s=10)
        assert exc.value.code == "host_not_allowed" and fake.file_hits["redirect"] == 1
        # a redirect within allowed hosts is followed
        inner = f"{fake.base_url}/redirect?to={url}"
        assert await download(inner, tmp_path / "e", allowed_hosts=hosts, max_bytes=10**6,
                              timeout_s=10) == 5000  # fmt: skip
        with pytest.raises(DownloadError) as exc:
            await download(f"{fake.base_url}/files/none", tmp_path / "f", allowed_hosts=hosts,
                           max_bytes=10**6, timeout_s=10)  # fmt: skip
        assert exc.value.code == "download_failed"
    finally:
        await fake.stop()
