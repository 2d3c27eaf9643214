"""LightningModules, one per kind of output; ``task._target_`` in the config names one.

``base.py`` holds what every task shares; ``regress.py`` (forecasting), ``classify.py``
(one label per sequence), ``regress_sequence.py`` (one number per sequence), ``language.py`` (the next character), ``sequence.py`` (an
output per step, scored where the data marks it). Each reads the batches of one
``batch_format``, and the datamodules state theirs, so a mismatch is refused at start-up.
"""
