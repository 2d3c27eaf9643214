"""``--help``: the command's usage, every config group and its options, and where to go next."""

from __future__ import annotations

from pathlib import Path

from rnnlab.cli.args import config_dir, split_args
from rnnlab.conf import conf_dir


def help_text(config_name: str, argv: list[str]) -> str:
    """Usage, the config groups and their options (parts starting with '_' left out)."""
    import importlib

    module = {"train": "train", "eval": "eval", "sample": "sample", "bench": None}.get(config_name)
    doc = ""
    if module:
        doc = (importlib.import_module(f"rnnlab.cli.{module}").__doc__ or "").strip()
    root = Path(conf_dir())
    extra = config_dir(split_args(argv)[0])
    roots = [root] + ([Path(extra)] if extra else [])
    groups: dict[str, set[str]] = {}
    for base in roots:
        for path in base.rglob("*.yaml"):
            rel = path.relative_to(base)
            if len(rel.parts) < 2 or rel.parts[0] in ("hydra", "local"):
                continue
            if any(p.startswith("_") for p in rel.parts):
                continue
            groups.setdefault("/".join(rel.parts[:-1]), set()).add(path.stem)
    lines = [doc, "", "Config groups (choose with group=option):"]
    width = max((len(g) for g in groups), default=0)
    for group in sorted(groups):
        lines.append(f"  {group:<{width}}  {', '.join(sorted(groups[group]))}")
    lines += [
        "",
        "Any value: key=value (model.hidden_size=128). Sweeps: -m key=a,b. Print the config:",
        "--cfg job. Your own configs: --config-dir DIR. Hydra's own options: --hydra-help.",
        'Tab completion: eval "$(rnnlab-train -sc install=bash)".',
    ]
    return "\n".join(lines)
