#!/usr/bin/env bash
# Sine forecasting: RNN, LSTM and GRU, uni- and bidirectional, 3 seeds (18 jobs).
# Extra arguments are passed to every job, e.g. `scripts/sine.sh launcher=local`.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/sine/$STAMP
train -m model=rnn,lstm,gru model.bidirectional=false,true seed=1,2,3 \
  hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --metrics test/mse,test/rollout_mse,model/params
