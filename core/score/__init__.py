"""The tune a learner meant to play, and which performed note is which note of it.

:mod:`core.score.model` is the melody itself and imports none of the readers; the readers (files,
typed note names, the songbook) build one; :mod:`core.score.load` picks the reader for what the
learner gave; :mod:`core.score.align` lays a take against the tune.
"""
