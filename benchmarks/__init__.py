"""Throughput benchmarks of lab: the harness (benchmarks.harness), its peers and its results.

`lab bench` (from a source checkout) and `python -m benchmarks` run the same harness.
"""
