"""Benchmarks of rnntune; run each script from the repository root as ``python -m bench.NAME``."""
