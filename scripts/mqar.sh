#!/usr/bin/env bash
# Multi-query associative recall (experiment=mqar, Zoology's MQAR at a CPU's size: 4
# key-value pairs over a vocabulary of 32 in 16 steps; guessing among the 16 values: 1/16).
# Eight cells (LSTM, GRU, minGRU, minLSTM, LRU, S6, sLSTM, mLSTM) at two widths
# (model.hidden_size 64 and 128), seeds 1-3: 48 runs of 1,500 updates, one layer each. The
# table gives test/acc beside model/state_size (floats of recurrent state per sequence)
# and model/params: the point of MQAR is accuracy against state size.
# Extra arguments go to every run, e.g. `scripts/mqar.sh seed=1`.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/mqar/$STAMP
# seed is named first so that the sweep runs every cell and width of seed 1 before seed 2.
train -m experiment=mqar seed=1,2,3 model.hidden_size=64,128 \
  model=lstm,gru,mingru,minlstm,lru,s6,slstm,mlstm hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --by model.cell,model.hidden_size --plot "$SWEEP/curves.png" \
  --plot-metric val/acc --metrics test/acc,baseline/acc,model/state_size,model/params
