"""``trainer.threads``: a number is taken as given; ``auto`` takes OMP_NUM_THREADS first."""

from __future__ import annotations

import os

from rnnlab.run.threads import choose_threads, idle_cores


def test_auto_takes_omp_num_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # more than this machine's idle cores
    assert choose_threads("auto") == 7
    assert choose_threads(2) == 2  # an explicit number wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert choose_threads("auto") == idle_cores()


def test_busy_cores_come_from_the_cpu_times_over_the_wait(monkeypatch):
    from rnnlab.run import threads

    samples = iter([(100, 1000), (150, 1100)])  # half of every jiffy busy meanwhile
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    assert threads.busy_cores(0) == 2.0
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(threads, "busy_cores", lambda: 2.6)
    assert threads.idle_cores() == 1  # round(4 - 2.6)
    monkeypatch.setattr(threads, "busy_cores", lambda: 7.0)
    assert threads.idle_cores() == 1  # never none
    monkeypatch.setattr(threads, "busy_cores", lambda: None)  # no /proc/stat: the load average
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    assert threads.idle_cores() == 4


def test_waiting_threads_sleep_only_where_the_run_has_more_threads_than_idle_cores(monkeypatch):
    import torch

    from rnnlab.run import threads

    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # restored after the test, as is
        monkeypatch.setenv(key, os.environ.get(key, "1"))  # this process's thread count
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(threads, "_SET_POLICY", [])
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)  # a busy machine
    assert threads.apply_threads(2) == 2
    assert threads.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setattr(threads, "idle_cores", lambda: 2)  # idle again: OpenMP's own policy
    threads.apply_threads(2)
    assert "OMP_WAIT_POLICY" not in threads.os.environ
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)
    threads.apply_threads(1)  # one thread never waits for another
    assert "OMP_WAIT_POLICY" not in threads.os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice is kept either way
    threads.apply_threads(2)
    assert threads.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
