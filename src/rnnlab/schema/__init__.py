"""One declaration per config key, and the one check of a composed config.

``declare``: how a key is declared (``option``) and checked (``Options``); ``registry``:
every declaration by what names it, and the defaults it gives the configs; ``validate``:
the walk over a composed config; ``docs``: ``--help``, generated.
The declarations themselves live beside the code they configure (``rnnlab.nn.options``,
``rnnlab.data.options``, ``rnnlab.tasks.options``, ``rnnlab.run.options``,
``rnnlab.callbacks.options``, ``rnnlab.launch.options`` and the Optuna sweeper's config).
"""
