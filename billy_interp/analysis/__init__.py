"""Analyses: pure functions from vectors and activations to tidy pandas DataFrames."""
