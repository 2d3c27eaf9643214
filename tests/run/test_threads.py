"""``trainer.threads``: a number is taken as given; ``auto`` takes OMP_NUM_THREADS first."""

from __future__ import annotations

from rnnlab.run.threads import choose_threads, idle_cores


def test_auto_takes_omp_num_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # more than this machine's idle cores
    assert choose_threads("auto") == 7
    assert choose_threads(2) == 2  # an explicit number wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert choose_threads("auto") == idle_cores()
