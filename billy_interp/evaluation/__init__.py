"""Creativity evaluation: WKCT tasks, the paper's methods (one small type each), the benchmark
job and paired comparisons between methods."""
