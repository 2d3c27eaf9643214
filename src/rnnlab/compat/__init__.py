"""Adapters around the private APIs of Lightning, Hydra and Optuna that rnnlab needs.

Each library has one small module here, and rnnlab reaches their private names through it
only; ``tests/compat`` checks every one of them against the installed versions, so an
upgrade that moves one fails there, loudly, instead of somewhere in a run.
"""
