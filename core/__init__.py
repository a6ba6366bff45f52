"""Audio, video and pitch science for Symphonic Masks.

Nothing here knows about VK or the job queue: the CLI and the bot's worker both call
:func:`core.pipeline.correct_file`. Keep this file import-light so ``smask --help`` is fast.
"""
