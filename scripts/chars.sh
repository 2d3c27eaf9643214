#!/usr/bin/env bash
# Character-level language models on tiny-shakespeare: RNN, LSTM, GRU, 3 seeds.
# For Penn Treebank characters: `scripts/chars.sh experiment=chars_ptb`.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/chars/$STAMP
train -m experiment=chars_shakespeare model=rnn,lstm,gru seed=1,2,3 hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --metrics test/bpc,val/bpc_best,test/loss,model/params
