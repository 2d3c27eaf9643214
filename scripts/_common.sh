# Shared by the table recipes: run from the repository root with the project's Python.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
STAMP=$(date +%Y-%m-%d_%H-%M-%S)
train() { "$PY" -m rnnlab.cli.train "$@"; }
table() { "$PY" -m rnnlab.results.cli "$@"; }
