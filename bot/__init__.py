"""The VK community bot: long poll, job queue, worker and delivery. Nothing runs at import."""
