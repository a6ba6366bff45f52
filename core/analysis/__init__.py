"""Listening: what is sounding in every 10 ms of a clip, and how loud.

The tracker (:mod:`core.analysis.pitch`, the only torch user here), its voicing decision, the
per-block loudness and phase measures, and :mod:`core.analysis.clip`, which runs them all over a
decoded clip. Nothing here decides what a note should be: that is :mod:`core.plan`.
"""
