"""Mutation testing of one core module with mutmut, against the tests that cover it.

    .venv/bin/python tools/mutation.py nn.recurrent          # one module (a key below)
    .venv/bin/python tools/mutation.py --list                # the modules and their tests
    .venv/bin/python tools/mutation.py nn.recurrent --survivors   # diffs of the survivors
    .venv/bin/python tools/mutation.py nn.recurrent --fresh  # rerun all after changing tests

``[tool.rnnlab.mutation]`` in pyproject.toml names, for every core module, the files to
mutate and the test files that cover them. mutmut reads one ``[tool.mutmut]`` table per
directory, so each module runs in its own folder, ``.mutation/<module>/``, holding links to
``src`` and ``tests`` and a copy of pyproject.toml whose ``[tool.mutmut]`` names that module's
files and tests. Its ``mutants/`` folder there is mutmut's cache: a rerun tests only what
changed. One worker and one thread by default: the score, not the speed, is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import toml as tomllib  # type: ignore[no-redef]  # mutmut's own dependency there

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"


def modules() -> dict[str, dict[str, list[str]]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["tool"]["rnnlab"]["mutation"]["modules"]


def _toml_list(values: list[str]) -> str:
    return json.dumps(values)  # a JSON list of strings is a TOML array


def module_pyproject(paths: list[str], tests: list[str]) -> str:
    """pyproject.toml with ``[tool.mutmut]`` narrowed to ``paths`` and ``tests``."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # a test file, folder or node id (``file.py::test_name``) whose file is there
    existing = [t for t in tests if (ROOT / t.split("::")[0]).exists()]
    for key, value in (("only_mutate", paths), ("pytest_add_cli_args_test_selection", existing)):
        pattern = re.compile(rf"^{key} = \[[^\]]*\]", re.MULTILINE)
        if not pattern.search(text):
            raise SystemExit(f"error: pyproject.toml's [tool.mutmut] has no `{key} = [...]` line")
        line = f"{key} = {_toml_list(value)}"
        text = pattern.sub(lambda _, line=line: line, text, count=1)
    return text


def prepare(name: str, spec: dict[str, list[str]]) -> Path:
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for link in ("src", "tests"):
        target = work / link
        if not target.is_symlink():
            target.symlink_to(ROOT / link, target_is_directory=True)
    pyproject = module_pyproject(spec["paths"], spec["tests"])
    previous = work / "pyproject.toml"
    if previous.is_file() and previous.read_text(encoding="utf-8") != pyproject:
        shutil.rmtree(work / "mutants", ignore_errors=True)  # other files or tests: start over
    previous.write_text(pyproject, encoding="utf-8")
    return work


# Read by tests from the checkout's root (``helpers.REPO``), which under mutmut is the copy in
# ``mutants/``: the README's and docs' option tables (tests/schema/test_docs.py).
ROOT_FILES = ("README.md", "docs")


def link_root_files(work: Path) -> None:
    """Links in ``mutants/`` to the checkout's files that tests read beside src and tests."""
    mutants = work / "mutants"
    mutants.mkdir(exist_ok=True)
    for name in ROOT_FILES:
        link = mutants / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=(ROOT / name).is_dir())


def score(work: Path) -> dict[str, float]:
    """Killed, survived, ... as mutmut counts them, and the score: killed / mutants."""
    mutmut = [sys.executable, "-m", "mutmut"]
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, check=True, capture_output=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    # A mutant no test reaches ("no_tests") counts as a survivor: nothing would notice it.
    killed = stats["killed"] + stats.get("timeout", 0) + stats.get("segfault", 0)
    stats["score"] = round(100 * killed / max(stats["total"] - stats.get("skipped", 0), 1), 1)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", help="a key of [tool.rnnlab.mutation.modules]")
    parser.add_argument("mutants", nargs="*", help="only these mutants (mutmut names, * globs)")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--survivors", action="store_true", help="print the surviving mutants")
    parser.add_argument("--max-children", type=int, default=1, help="parallel workers (1)")
    parser.add_argument("--fresh", action="store_true",
                        help="forget earlier results (mutmut reruns a mutant only when its "
                        "function changed, not when the tests did)")  # fmt: skip
    args = parser.parse_args(argv)
    specs = modules()
    if args.list or not args.module:
        for name, spec in specs.items():
            print(f"{name}: {' '.join(spec['paths'])}\n    tests: {' '.join(spec['tests'])}")
        return 0
    if args.module not in specs:
        raise SystemExit(f"error: module={args.module!r}; one of {', '.join(specs)}")
    work = prepare(args.module, specs[args.module])
    if args.fresh:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    link_root_files(work)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "MPLBACKEND": "Agg", "WANDB_MODE": "offline"}  # fmt: skip
    mutmut = [sys.executable, "-m", "mutmut"]
    if args.survivors:
        listing = subprocess.run([*mutmut, "results"], cwd=work, env=env, capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        for line in listing.splitlines():
            name = line.split(":")[0].strip()
            if name and line.rstrip().endswith("survived"):
                subprocess.run([*mutmut, "show", name], cwd=work, env=env, check=False)
        return 0
    proc = subprocess.run([*mutmut, "run", "--max-children", str(args.max_children), *args.mutants],
                          cwd=work, env=env, check=False)  # fmt: skip
    if proc.returncode != 0:
        return proc.returncode
    print(json.dumps({"module": args.module, **score(work)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
