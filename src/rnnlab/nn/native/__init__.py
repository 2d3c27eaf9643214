"""C++ kernels of the cells, compiled on this machine at first use.

``selective_scan()`` returns S6's fused scan (``selective_scan.cpp``), built once with
torch's C++ extension loader and cached under torch's extension folder
(``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``). It is compiled for the
CPU it runs on (``-march=native``); the build's name holds a fingerprint of that CPU, so a
cache folder shared by different machines (a cluster's home directory) keeps one build per
kind of CPU. Where it cannot be built (no C++ compiler, no ninja), ``unavailable()`` says
why and the cells use torch's operations.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
FLAGS = [
    "-O3",
    "-march=native",
    "-fopenmp-simd",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-std=c++17",
]
_failures: dict[str, str] = {}


def _cpu_fingerprint() -> str:
    """The CPU's model and instruction-set flags, hashed: what ``-march=native`` targets."""
    text = platform.machine() + platform.processor()
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        text += "".join(line for line in info.splitlines()[:40]
                        if line.startswith(("model name", "flags")))  # fmt: skip
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _build(name: str) -> ModuleType | None:
    try:
        from torch.utils import cpp_extension

        from rnnlab.compat.torch import extension_dir

        build_name = f"rnnlab_{name}_{_cpu_fingerprint()}"
        if not (extension_dir(build_name) / f"{build_name}.so").exists():
            print(f"rnnlab: compiling the C++ {name.replace('_', ' ')} for this CPU "
                  "(once, about a minute)", file=sys.stderr, flush=True)  # fmt: skip
        return cpp_extension.load(build_name, [str(HERE / f"{name}.cpp")],
                                  extra_cflags=FLAGS, verbose=False)  # fmt: skip
    except Exception as err:  # no compiler, no ninja, a failed compile: torch's ops instead
        first = next((line for line in str(err).splitlines() if line.strip()), "")
        _failures[name] = first[:200] or type(err).__name__
        return None


@functools.cache
def selective_scan() -> ModuleType | None:
    """S6's fused selective scan (``forward``, ``backward``), or None where it cannot be
    built here (``unavailable("selective_scan")`` says why)."""
    return _build("selective_scan")


def unavailable(name: str) -> str | None:
    """Why the kernel ``name`` could not be built, or None."""
    return _failures.get(name)
