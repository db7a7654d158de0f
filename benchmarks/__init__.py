"""Quality and speed benchmarks on the real data sets; results go to docs/BENCHMARKS.md."""
