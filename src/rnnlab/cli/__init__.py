"""The commands: ``rnnlab-train``, ``rnnlab-eval``, ``rnnlab-sample`` (thin Hydra mains).

``rnnlab-table`` lives with the results it builds (``rnnlab.results.cli``) and
``rnnlab-bench`` with the benchmarks it runs (``rnnlab.benchmarks.cli``).
"""
