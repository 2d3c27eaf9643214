#!/usr/bin/env bash
# The char-LM head-to-head on a CPU budget (docs/RESULTS.md): each cell in the settings that
# did best within the wall time of nanoGPT's CPU recipe on the development machine, seeds
# 1-3, one process after another with the machine to itself, so that each run's wall time
# from process start (time/process_s) is what a user waits. Run nothing else meanwhile.
#   scripts/chars_cpu.sh                        # every cell, seeds 1-3, then the table
#   CELLS=lstm,gru SEEDS="1" scripts/chars_cpu.sh
#   NANOGPT=/path/to/nanoGPT scripts/chars_cpu.sh   # nanoGPT's recipe timed before each cell and last
# The LSTM's settings are experiment=chars_shakespeare_cpu's own; each other cell changes
# what is listed below, and runs as it was measured: Adam, no weight average, its best
# checkpoint tested too (the experiment's AdamW and average were tuned on the LSTM only).
# Prints the table of the held-out loss (test_last/loss, nats per character) and the times.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/chars_cpu/$STAMP
RES="model.block=residual model.num_layers=2 model.hidden_size=256 model.mlp_ratio=2"  # the residual stack
WIDE="data.batch_size=64 optimizer.lr=0.006"  # the cells slower per character: fewer updates
BEFORE="optimizer=adam optimizer.weight_decay=0.0 ~optimizer.fused ~callbacks.ema test=true"
declare -A SETTINGS=(
  [lstm]=""
  [gru]="$BEFORE model=gru optimizer.lr=0.004 trainer.max_epochs=3"
  [rnn]="$BEFORE model=rnn model.hidden_size=512 optimizer.lr=0.002 data.batch_size=64 trainer.max_epochs=7"
  [mingru]="$BEFORE model=mingru $RES $WIDE trainer.max_epochs=3"
  [minlstm]="$BEFORE model=minlstm $RES $WIDE trainer.max_epochs=3 trainer.limit_train_batches=0.8"
  [lru]="$BEFORE model=lru $RES $WIDE trainer.max_epochs=2"
  [s6]="$BEFORE model=s6 $RES $WIDE trainer.max_epochs=2"
  [slstm]="$BEFORE model=slstm model.hidden_size=384 model.num_heads=4 $WIDE trainer.max_epochs=3"
  [mlstm]="$BEFORE model=mlstm model.num_heads=4 $RES data.batch_size=64 optimizer.lr=0.002 trainer.max_epochs=2"
)
CELLS=${CELLS:-lstm,gru,rnn,mingru,minlstm,lru,s6,slstm,mlstm}
nanogpt() { [ -z "${NANOGPT:-}" ] || scripts/nanogpt_cpu.sh "$SWEEP/nanogpt_$1.json"; }
for cell in ${CELLS//,/ }; do
  [ -n "${SETTINGS[$cell]+set}" ] || { echo "error: CELLS: no settings for '$cell' (${!SETTINGS[*]})" >&2; exit 2; }
done
for cell in ${CELLS//,/ }; do
  nanogpt "before_$cell"  # each cell's time against the timings on either side of it
  for seed in ${SEEDS:-1 2 3}; do
    # shellcheck disable=SC2086  # the settings are words
    train experiment=chars_shakespeare_cpu ${SETTINGS[$cell]} seed=$seed \
      hydra.run.dir="$SWEEP/$cell/$seed" "$@"
  done
done
nanogpt last
table "$SWEEP" --by model.cell,model.hidden_size,model.num_layers,model.block \
  --metrics test_last/loss,test_last/bpc,time/process_s,threads,model/params,model/state_size
