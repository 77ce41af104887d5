"""Benchmarks and the helpers only they (and the end-to-end tests) use."""
