"""Helpers shared by tests and benchmarks (synthesized channels)."""
