"""The pitch network, its front end and decoding, its training recipe and its shipped weights.

The bottom layer: models/ imports nothing of core/ or bot/; core/analysis/pitch.py calls it. The
pitch
units (``models.units``: Hz, MIDI, cents, note names) live here because the network's labels are
in them, and every layer above uses the same ones.
"""
