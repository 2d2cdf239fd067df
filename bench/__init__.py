"""Benchmarks of the real bot process on loopback against the local fakes (see bench/run.py)."""
