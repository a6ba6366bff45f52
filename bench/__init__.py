"""Committed benchmarks, each runnable as ``python -m bench.<name>``.

Every benchmark prints a Markdown table and writes it to ``bench/results/<name>.md``; numbers
quoted anywhere else in the project come from these files, never from timed tests.
"""
