"""Fetch a user's clip from VK's document servers, and nowhere else.

The doc URL arrives inside a chat message, so it is untrusted input: the host must match the
allowlist on every redirect hop, the declared size is checked before the first byte, and the
stream is cut at ``max_bytes`` and ``timeout_s`` whatever the server claims.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiofiles
import aiohttp

CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5


class DownloadError(Exception):
    """A download refused or failed; ``code`` is a bot.texts key suffix or core.errors code."""

    def __init__(self, code: str, detail: str = "", **facts: object) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.facts = facts


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def host_allowed(url: str, patterns: Iterable[str]) -> bool:
    """True when the URL's host matches a pattern (``*.vk.com`` = any subdomain of vk.com).

    Plain http is accepted only for loopback hosts (tests); VK serves docs over https.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or parts.username or parts.password:
        return False
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
        return False
    return any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns)


async def download(
    url: str,
    dst: Path,
    *,
    allowed_hosts: Iterable[str],
    max_bytes: int,
    timeout_s: float,
    declared_size: int | None = None,
) -> int:
    """Stream ``url`` into ``dst``.

    Returns:
        bytes written.

    Raises:
        DownloadError: ``host_not_allowed``, ``declared_too_large``, ``too_large`` (the stream
            went past ``max_bytes``), or ``download_failed`` (network, HTTP status, timeout).
    """
    hosts = tuple(allowed_hosts)
    if declared_size is not None and declared_size > max_bytes:
        raise DownloadError("declared_too_large", size=declared_size, max_bytes=max_bytes)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                if not host_allowed(url, hosts):
                    raise DownloadError("host_not_allowed", urlsplit(url).hostname or "")
                async with session.get(url, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        url = urljoin(url, resp.headers.get("Location", ""))
                        continue
                    if resp.status != 200:
                        raise DownloadError("download_failed", f"HTTP {resp.status}")
                    if resp.content_length is not None and resp.content_length > max_bytes:
                        raise DownloadError("too_large", size=resp.content_length)
                    return await _stream(resp, dst, max_bytes)
            raise DownloadError("download_failed", "too many redirects")
    except DownloadError:
        dst.unlink(missing_ok=True)
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        dst.unlink(missing_ok=True)
        raise DownloadError("download_failed", type(exc).__name__) from exc


async def _stream(resp: aiohttp.ClientResponse, dst: Path, max_bytes: int) -> int:
    written = 0
    async with aiofiles.open(dst, "wb") as out:
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise DownloadError("too_large", max_bytes=max_bytes)
            await out.write(chunk)
    return written
