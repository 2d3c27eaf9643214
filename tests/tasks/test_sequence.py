"""The sequence task's own metric: the share of answers within a tolerance of the target."""

from __future__ import annotations

import torch

from rnnlab.tasks.sequence import WithinTolerance


def test_within_tolerance_counts_strictly_closer_answers_over_every_update():
    metric = WithinTolerance(tolerance=0.5)
    assert metric.compute() == 0  # nothing seen: 0, not a division by zero
    metric.update(torch.tensor([1.25, 1.5, 1.75]), torch.ones(3))  # 0.25 in; 0.5 is not < 0.5
    assert metric.compute() == torch.tensor(1 / 3)
    metric.update(torch.tensor([[0.0, 2.0], [0.75, 5.0]]), torch.ones(2, 2))  # 1 of 4 more
    assert (int(metric.hits), int(metric.total)) == (2, 7)
    assert metric.compute() == torch.tensor(2 / 7)
    metric.reset()
    assert (int(metric.hits), int(metric.total)) == (0, 0)
