#!/usr/bin/env bash
# nanoGPT's own CPU recipe for tiny-shakespeare (the command of its README's quick start),
# timed from process start to exit, as rnnlab's time/process_s is timed, so that the two can
# be compared on one machine in one session (docs/RESULTS.md, "tiny-shakespeare on a CPU
# budget"). nanoGPT is not a dependency of rnnlab: give a checkout of it.
#   NANOGPT=/path/to/nanoGPT scripts/nanogpt_cpu.sh [RESULT.json]
# It prepares nanoGPT's data from rnnlab's copy of the corpus (data/tinyshakespeare/input.txt,
# fetched by any char run) when nanoGPT has none, runs the recipe with torch's default threads
# (as nanoGPT does), and writes {"wall_s", "val_loss", "train_loss", "threads", "load_1min"}.
source "$(dirname "$0")/_common.sh"
: "${NANOGPT:?set NANOGPT to a checkout of https://github.com/karpathy/nanoGPT}"
OUT=${1:-logs/tables/nanogpt_cpu/$STAMP.json}
DATA="$NANOGPT/data/shakespeare_char"
PYBIN=$("$PY" -c 'import sys; print(sys.executable)')  # the same Python (and torch) as rnnlab
if [ ! -f "$DATA/train.bin" ]; then
  CORPUS=${RNNLAB_DATA_DIR:-data}/tinyshakespeare/input.txt
  [ -f "$DATA/input.txt" ] || cp "$CORPUS" "$DATA/input.txt"
  (cd "$NANOGPT" && "$PYBIN" data/shakespeare_char/prepare.py >/dev/null)
fi
mkdir -p "$(dirname "$OUT")"
LOG=${OUT%.json}.log
LOAD=$(cut -d' ' -f1 /proc/loadavg)
START=$(date +%s.%N)
(cd "$NANOGPT" && "$PYBIN" train.py config/train_shakespeare_char.py --device=cpu \
  --compile=False --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 \
  --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0) \
  >"$LOG" 2>&1
END=$(date +%s.%N)
"$PY" - "$LOG" "$OUT" "$START" "$END" "$LOAD" <<'PY'
import json, re, sys, torch
log, out, start, end, load = sys.argv[1:]
last = re.findall(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", open(log).read())[-1]
result = {"wall_s": round(float(end) - float(start), 1), "val_loss": float(last[2]),
          "train_loss": float(last[1]), "step": int(last[0]),
          "threads": torch.get_num_threads(), "load_1min": float(load)}
json.dump(result, open(out, "w"), indent=1)
print(f"nanoGPT CPU recipe: val loss {result['val_loss']:.4f} at step {result['step']}, "
      f"{result['wall_s']} s from process start, {result['threads']} threads ({out})")
PY
