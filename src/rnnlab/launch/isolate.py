"""A job of a ``launcher=local`` sweep in a process of its own, so that one the system
kills (SIGKILL, the out-of-memory killer) is recorded as failed and the sweep runs on.

joblib's loky executor treats a worker that dies as a broken pool: every job not yet
finished is abandoned with ``TerminatedWorkerError``, and the sweep ends without its
summary. So the worker forks and the job runs in the child. The worker itself never
imports torch (the job's imports happen in the child), which keeps the fork safe. When
the child dies by a signal, the worker records the job's end as any job's is recorded
(``rnnlab.run.lifecycle.record``: ``status: failed``, the signal) and returns as a failed
job does; an exit status the job chose (an interrupted job's 130 / 143) is passed on.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("rnnlab")


def in_own_process(body: Callable[[], Any], output_dir: Path) -> Any:
    """Run ``body()`` in a forked child; return its (JSON-able) result."""
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the job
        os.close(read)
        code = 0
        try:
            value = body()
            with os.fdopen(write, "w") as out:
                json.dump(value, out)
        except SystemExit as err:
            code = err.code if isinstance(err.code, int) else int(err.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            logging.shutdown()  # the job's log file is complete
            os._exit(code)
    os.close(write)
    _drop_log_buffers()  # the child wrote the job's log; these records are its copy
    with os.fdopen(read) as result:
        text = result.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return _killed(signal.Signals(os.WTERMSIG(status)).name, output_dir)
    code = os.WEXITSTATUS(status)
    if code:
        sys.exit(code)
    return json.loads(text) if text else None


def _killed(name: str, output_dir: Path) -> None:
    from rnnlab.run import lifecycle

    error = f"the job's process was killed by {name} (by the system: out of memory?)"
    end = lifecycle.Ending("failed", lifecycle.EXIT_FAILED, error, phase=None)
    lifecycle.record(end, output_dir, run=lifecycle.Lifecycle(), signal=name)
    log.error("job failed: %s", error)
    return None


def _drop_log_buffers() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.handlers.MemoryHandler):
            handler.acquire()
            try:
                handler.buffer.clear()
            finally:
                handler.release()
