"""Benchmarks: one module per `python -m engine bench NAME`."""
