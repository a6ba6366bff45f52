"""A fake VK API server on 127.0.0.1 for tests and benchmarks (real HTTP, real vkbottle)."""

from .server import FakeVK, audio_message_attachment, doc_attachment, video_attachment

__all__ = ["FakeVK", "audio_message_attachment", "doc_attachment", "video_attachment"]
