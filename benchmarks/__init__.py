"""Benchmarks: measured ratios written to benchmarks/results/NAME.json (`make bench`).

Each module ``benchmarks/bench_NAME.py`` defines ``run() -> dict`` of measured figures (and the
targets they are held against, as ``*_target`` keys); the runner adds the machine's description.
"""
