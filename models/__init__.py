"""The pitch network, its training recipe and its shipped weights.

models/ imports only core's leaf modules (units, cqt, audio), never core.pipeline or bot/.
"""
