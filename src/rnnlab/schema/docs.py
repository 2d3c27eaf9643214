"""``--help``, generated from the declarations (the docs' option tables are checked against
them by tests/schema/test_docs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnlab.schema.declare import Options


def rows(cls: type[Options], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key with its group, default, what is allowed, meaning) of every declared key."""
    return [(prefix + key, default, allowed, meaning)
            for key, default, allowed, meaning in cls.table()]  # fmt: skip


def plain_table(cls: type[Options], prefix: str = "", width: int = 100) -> list[str]:
    """A key per entry: ``  key=default  meaning; allowed``, wrapped to ``width``."""
    import textwrap

    lines = []
    entries = rows(cls, prefix)
    pad = min(max((len(f"{k}={d}") for k, d, _, _ in entries), default=0), 34) + 4
    for key, default, allowed, meaning in entries:
        head = f"  {key}={default}"
        text = "; ".join(part for part in (meaning, allowed) if part)
        wrapped = textwrap.wrap(text, width - pad) or [""]
        if len(head) + 2 > pad:
            lines.append(head)
            lines += [" " * pad + w for w in wrapped]
        else:
            lines.append(head.ljust(pad) + wrapped[0])
            lines += [" " * pad + w for w in wrapped[1:]]
    return lines


def chosen(cfg: Mapping[str, Any], command: str) -> list[tuple[str, type[Options]]]:
    """(group, declaration) of every node a composed config selects."""
    from rnnlab.schema import registry

    out: list[tuple[str, type[Options]]] = [("", registry.root(command))]
    if "trainer" in cfg:
        out.append(("trainer.", registry.TrainerOptions))
    if command != "train":
        return out
    out.append(("model.", registry.StackOptions))
    tables = (("data", registry.DATA), ("task", registry.TASKS),
              ("optimizer", registry.OPTIMIZERS), ("scheduler", registry.SCHEDULERS))  # fmt: skip
    for group, table in tables:
        target = (cfg.get(group) or {}).get("_target_")
        if target in table:
            out.append((f"{group}.", table[target]))
    for group, table in (("callbacks", registry.CALLBACKS), ("logger", registry.LOGGERS)):
        for name, node in (cfg.get(group) or {}).items():
            if node and node.get("_target_") in table:
                out.append((f"{group}.{name}.", table[node["_target_"]]))
    return out
