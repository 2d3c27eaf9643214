"""How the C++ kernels are built and found (rnnlab/nn/native): one build per CPU, source,
flags and torch, shared by every checkout; never a wait on a lock a killed compile left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rnnlab.nn import native

NAME = "selective_scan"


def test_a_build_is_named_by_what_it_is_built_from(tmp_path, monkeypatch) -> None:
    first = native._fingerprint(NAME)
    elsewhere = tmp_path / "checkout"  # the same source in another checkout: the same build
    elsewhere.mkdir()
    shutil.copy(native.HERE / f"{NAME}.cpp", elsewhere)
    monkeypatch.setattr(native, "HERE", elsewhere)
    assert native._fingerprint(NAME) == first
    with open(elsewhere / f"{NAME}.cpp", "a") as source:  # a changed source: a new build
        source.write("\n// changed\n")
    assert native._fingerprint(NAME) != first
    shutil.copy(Path(native.__file__).parent / f"{NAME}.cpp", elsewhere)  # the source again
    monkeypatch.setattr(native, "FLAGS", [*native.FLAGS, "-DOTHER"])  # other flags: a new one
    assert native._fingerprint(NAME) != first


def _run(*parts: str, cache: Path, timeout: float) -> subprocess.CompletedProcess:
    """Python made of ``parts`` (each dedented) in a process whose extension cache is ``cache``."""
    code = "".join(textwrap.dedent(part) for part in parts)
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=timeout,
                          capture_output=True, text=True)  # fmt: skip


PLANT = f"""
    from rnnlab.compat.torch import extension_dir
    from rnnlab.nn import native
    build_name = f"rnnlab_{NAME}_{{native._fingerprint({NAME!r})}}"
    folder = extension_dir(build_name)
    (folder / "lock").touch()  # what a compile killed half way leaves behind
"""


def test_a_build_in_the_cache_is_imported_as_it_is_beside_a_stale_lock(tmp_path) -> None:
    if native.selective_scan() is None:
        pytest.skip(f"the C++ scan does not build here: {native.unavailable(NAME)}")
    built = native.selective_scan().__file__
    use = f"""
        import shutil
        from torch.utils import cpp_extension
        shutil.copy({built!r}, folder / f"{{build_name}}.so")
        def refuse(*args, **kwargs):
            raise AssertionError("torch's loader was called for a build already there")
        cpp_extension.load = refuse
        module = native._build({NAME!r})
        assert module is not None, native.unavailable({NAME!r})
        assert callable(module.forward) and callable(module.backward)
        print("imported", module.__file__)
    """
    done = _run(PLANT, use, cache=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"imported {tmp_path}" in done.stdout


@pytest.mark.slow
def test_a_first_build_beside_a_stale_lock_compiles_and_leaves_nothing_else(tmp_path) -> None:
    if native.selective_scan() is None:
        pytest.skip(f"the C++ scan does not build here: {native.unavailable(NAME)}")
    build = f"""
        module = native._build({NAME!r})
        assert module is not None, native.unavailable({NAME!r})
        print("built", build_name)
    """
    done = _run(PLANT, build, cache=tmp_path, timeout=600)  # a compile: about a minute
    assert done.returncode == 0, done.stderr[-2000:]
    assert "compiling the C++ selective scan for this CPU" in done.stderr
    (build_name,) = [line.split()[1] for line in done.stdout.splitlines() if line[:5] == "built"]
    folder = next(p for p in tmp_path.rglob(build_name) if p.is_dir())
    assert (folder / f"{build_name}.so").is_file()
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []  # no leftovers
