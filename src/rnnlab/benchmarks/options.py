"""The keys of ``rnnlab-bench`` (``conf/bench.yaml``), declared once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnlab.run.options import TASK_NAME, _task_name
from rnnlab.schema.declare import Options, option

MODES = ("quick", "full")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(kw_only=True)
class BenchConfig(Options):
    task_name: str = option("bench", "names the log folder", check=_task_name, allowed=TASK_NAME)
    mode: str = option("quick", "quick: a few minutes on a 2-core CPU; full: sizes for a GPU",
                       choices=MODES)  # fmt: skip
    device: str = option("auto", "auto (cuda when available), cpu or cuda", choices=DEVICES)
    only: list[str] = option([], "benchmark names to run (the keys of benchmarks); empty: all")
    write_docs: bool = option(True, "add or replace this run's rows in docs_path")
    docs_path: str = option("???", "the benchmarks page (docs/BENCHMARKS.md)")
    benchmarks: dict[str, Any] = option({}, "each benchmark: a function (_target_) and its "
                                        "arguments per mode")  # fmt: skip

    def rules(self) -> None:
        from rnnlab.errors import ConfigError

        for name in self.only:
            if name not in self.benchmarks:
                raise ConfigError("only", name, "one of " + ", ".join(self.benchmarks))
