"""Media in and out: is the upload a clip we can correct, its sound decoded and parked, the
result written back with the picture untouched.

Every module here speaks bytes, containers and samples; none knows about notes. The package
imports nothing on its own, so ``smask probe`` pays only for :mod:`core.media.probe`.
"""
