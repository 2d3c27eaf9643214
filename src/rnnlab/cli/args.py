"""The command line as Hydra will read it: flags and overrides, paths quoted, help asked.

``quote_paths`` lets a user write a path with ``=`` or spaces in it
(``ckpt_path=runs/lr=0.1/last.ckpt``): Hydra's parser would read those characters as syntax.
"""

from __future__ import annotations

# Arguments after which Hydra does not run a job (or runs many): nothing to pre-check.
PASSTHROUGH = ("--cfg", "-c", "--info", "-i", "--shell-completion", "-sc", "--hydra-help",
                "--resolve", "-p", "--package", "--version", "--run", "-r")  # fmt: skip


MULTIRUN = ("-m", "--multirun")


WITH_VALUE = ("--config-dir", "-cd", "--config-name", "-cn", "--config-path", "-cp",
               "--cfg", "-c", "--package", "-p", "--info", "-i", "-sc", "--shell-completion",
               "--experimental-rerun")  # fmt: skip


# Keys whose values are paths: quoted for Hydra's parser when they hold '=' or spaces.
PATH_KEYS = ("ckpt_path", "resume_dir", "hydra.run.dir", "hydra.sweep.dir", "data.path",
              "paths.data_dir", "paths.log_dir")  # fmt: skip


# Keys that moved: the one-line error says where they are now.
MOVED = {"data.encoding": "task.encoding", "data.embedding_dim": "task.embedding_dim"}


def wants_help(argv: list[str]) -> bool:
    return any(a in ("--help", "-h") for a in argv)


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's flags with their values, the overrides)."""
    flags, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            flags.append(arg)
            if arg in WITH_VALUE and "=" not in arg and i + 1 < len(argv):
                flags.append(argv[i + 1])
                i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def quote_paths(overrides: list[str], multirun: bool = False) -> list[str]:
    """``ckpt_path=a=b/last.ckpt`` -> ``ckpt_path='a=b/last.ckpt'``: Hydra's parser reads
    ``=`` and some other characters as syntax; a path should just be a path. In a sweep
    (``-m``) a comma separates the paths swept over (``-m ckpt_path=a.ckpt,b.ckpt``), each
    quoted alone; Hydra's own dirs are one path."""
    out = []
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") in PATH_KEYS and value[:1] not in ("'", '"'):
            swept = multirun and not key.startswith("hydra.")
            items = value.split(",") if swept else [value]
            value = ",".join(_quote_path(item) for item in items)
            override = f"{key}={value}"
        out.append(override)
    return out


def _quote_path(value: str) -> str:
    if not any(c in value for c in "=,[]{}()' "):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unquote(value: str) -> str:
    """The path of a quoted override value (``quote_paths`` in reverse)."""
    if len(value) < 2 or value[0] != value[-1] or value[0] not in "'\"":
        return value
    out, chars = [], iter(value[1:-1])
    for char in chars:
        out.append(next(chars, "\\") if char == "\\" else char)
    return "".join(out)


def parts(override: str) -> tuple[str, str]:
    """(key, value as written) of ``+key=value``."""
    key, _, value = override.lstrip("+~").partition("=")
    return key.strip(), value


def config_dir(flags: list[str]) -> str | None:
    for i, flag in enumerate(flags):
        if flag in ("--config-dir", "-cd") and i + 1 < len(flags):
            return flags[i + 1]
        if flag.startswith("--config-dir="):
            return flag.split("=", 1)[1]
    return None
