"""Benchmarks: figures, never pass/fail timing. Run ``python -m tests.benchmarks --help``."""
