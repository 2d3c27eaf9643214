"""C++ kernels of the cells, compiled on this machine at first use.

``selective_scan()`` returns S6's fused scan (``selective_scan.cpp``), built once with
torch's C++ extension loader and cached under torch's extension folder
(``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``). It is compiled for the
CPU it runs on (``-march=native``); the build's name holds a fingerprint of what it was
built from (that CPU, the source, the flags, torch's version), so a cache folder shared by
different machines (a cluster's home directory) or by different checkouts keeps one build
of each, and a changed source is built anew.

A build that is there is imported as it is, without torch's loader, its lock file or its
build step. A new one is compiled in a folder of its own and then moved into place in one
step, so concurrent runs never wait on one another's lock: a compile killed half way (a
job's time limit, an out-of-memory kill) leaves an unused folder, not a lock that every
later run would wait on for ever. Where it cannot be built (no C++ compiler, no ninja),
``unavailable()`` says why and the cells use torch's operations.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import platform
import sys
import tempfile
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


def _fingerprint(name: str) -> str:
    """What the build of ``name`` depends on, hashed: the CPU's model and instruction-set
    flags (what ``-march=native`` targets), the source, the flags and torch's version."""
    import torch

    text = platform.machine() + platform.processor()
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        text += "".join(line for line in info.splitlines()[:40]
                        if line.startswith(("model name", "flags")))  # fmt: skip
    except OSError:
        pass
    digest = hashlib.sha256(text.encode())
    digest.update((HERE / f"{name}.cpp").read_bytes())
    digest.update(" ".join(FLAGS + [torch.__version__]).encode())
    return digest.hexdigest()[:10]


def _import(build_name: str, library: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(build_name, library)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {library}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(name: str) -> ModuleType | None:
    try:
        from torch.utils import cpp_extension

        from rnnlab.compat.torch import extension_dir

        build_name = f"rnnlab_{name}_{_fingerprint(name)}"
        library = extension_dir(build_name) / f"{build_name}.so"
        if library.exists():
            return _import(build_name, library)
        print(f"rnnlab: compiling the C++ {name.replace('_', ' ')} for this CPU "
              "(once, about a minute)", file=sys.stderr, flush=True)  # fmt: skip
        cache = library.parent.parent
        with tempfile.TemporaryDirectory(prefix=f".{build_name}.", dir=cache) as tmp:
            module = cpp_extension.load(build_name, [str(HERE / f"{name}.cpp")], extra_cflags=FLAGS,
                                        build_directory=tmp, verbose=False)  # fmt: skip
            os.replace(Path(tmp) / library.name, library)  # whole or not at all, for any reader
        module.__file__ = str(library)  # where the loaded library now lies
        return module
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
