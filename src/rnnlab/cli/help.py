"""``--help``: the command's usage, its config groups and options, and every key of the
options chosen (with the overrides given), generated from their declarations."""

from __future__ import annotations

from pathlib import Path

from rnnlab.cli.args import config_dir, split_args
from rnnlab.conf import conf_dir


def help_text(config_name: str, argv: list[str]) -> str:
    """Usage, the config groups and their options (parts starting with '_' left out), and
    the keys of what this command line composes (``rnnlab-train data=smnist --help``)."""
    import importlib

    module = {"train": "train", "eval": "eval", "sample": "sample", "bench": None}.get(config_name)
    doc = ""
    if module:
        doc = (importlib.import_module(f"rnnlab.cli.{module}").__doc__ or "").strip()
    root = Path(conf_dir())
    flags, overrides = split_args([a for a in argv if a not in ("--help", "-h")])
    extra = config_dir(flags)
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
    lines += ["", *_keys(config_name, overrides, flags)]
    lines += [
        "",
        "Any value: key=value (model.hidden_size=128). Sweeps: -m key=a,b. Print the config:",
        "--cfg job. Your own configs: --config-dir DIR. Hydra's own options: --hydra-help.",
        'Tab completion: eval "$(rnnlab-train -sc install=bash)".',
    ]
    return "\n".join(lines)


def _keys(config_name: str, overrides: list[str], flags: list[str]) -> list[str]:
    """Every key of the options this command line selects: key=default, meaning, allowed."""
    from rnnlab.cli.compose import compose
    from rnnlab.schema.docs import chosen, plain_table
    from rnnlab.schema.values import plain_config

    try:
        cfg = plain_config(compose(config_name, overrides, flags))
    except Exception as err:  # a bad override: its own error comes when the command runs
        return [f"(keys not shown: {str(err).splitlines()[0][:200]})"]
    lines = ["Keys (key=default  meaning; what is allowed), for the options chosen"
             + (" with " + " ".join(overrides) if overrides else "") + ":"]  # fmt: skip
    for prefix, cls in chosen(cfg, config_name):
        lines += plain_table(cls, prefix)
    return lines
