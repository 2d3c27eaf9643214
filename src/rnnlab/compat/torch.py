"""torch's private names that rnnlab uses.

- ``extension_dir(name)``: the folder where ``torch.utils.cpp_extension.load`` builds and
  caches the extension ``name`` (``TORCH_EXTENSIONS_DIR``, else torch's default under
  ``~/.cache``); rnnlab imports its own build from there, and moves a new one there.
"""

from __future__ import annotations

from pathlib import Path


def extension_dir(name: str) -> Path:
    from torch.utils import cpp_extension

    return Path(cpp_extension._get_build_directory(name, verbose=False))
