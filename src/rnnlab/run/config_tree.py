"""The composed config as a compact tree, printed when a run starts (``print_config=false``
turns it off).

One line per config group, its values as ``key=value`` pairs wrapped under it, so the 90
or so keys of a run fit on a screen; a nested group (``callbacks.model_checkpoint``) is a
branch of its own. A ``_target_`` shows as its class name first: the full import path is in
``.hydra/config.yaml`` and says nothing more to a reader.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

WIDTH = 100


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping) and isinstance(value.get("_target_"), str):
        args = ", ".join(f"{k}={_value(v)}" for k, v in value.items() if k != "_target_")
        return f"{value['_target_'].rsplit('.', 1)[-1]}({args})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _is_branch(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value)


def _leaves(node: Mapping[str, Any]) -> str:
    target = node.get("_target_")
    words = [str(target).rsplit(".", 1)[-1]] if isinstance(target, str) else []
    words += [f"{k}={_value(v)}" for k, v in node.items() if k != "_target_"]
    return " ".join(words)


def _lines(node: Mapping[str, Any], prefix: str) -> list[str]:
    leaves = {k: v for k, v in node.items() if not _is_branch(v)}
    branches = [(k, v) for k, v in node.items() if _is_branch(v)]
    out: list[str] = []
    items: list[tuple[str, Any]] = []
    if leaves:
        items.append(("", leaves))
    items += branches
    for i, (name, child) in enumerate(items):
        last = i == len(items) - 1
        stem, indent = ("└─ ", "   ") if last else ("├─ ", "│  ")
        if name == "":  # the values of this node itself
            head, body = "", _leaves(child)
        elif any(_is_branch(v) for v in child.values()):
            out.append(prefix + stem + name)
            out += _lines(child, prefix + indent)
            continue
        else:
            head, body = name + ": ", _leaves(child)
        text = textwrap.wrap(body, WIDTH - len(prefix) - 3 - len(head), break_on_hyphens=False) or [
            ""
        ]
        out.append(prefix + stem + head + text[0])
        out += [prefix + indent + " " * len(head) + more for more in text[1:]]
    return out


def config_tree(cfg: Mapping[str, Any]) -> str:
    """The resolved config (without ``hydra``) as the lines to print."""
    shown = {k: v for k, v in cfg.items() if k != "hydra"}
    return "\n".join(["config", *_lines(shown, "")])
