"""Throughput benchmarks of lab (the code lives in lab.bench so that `lab bench` runs it too)."""
