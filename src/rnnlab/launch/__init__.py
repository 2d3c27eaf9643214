"""Sweeps: per-job resources, sweep summaries, Optuna pruning."""
