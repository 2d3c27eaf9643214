#!/usr/bin/env bash
# Selective copying at L = 50 and 100, 8 tokens from 8 symbols: tanh RNN, IRNN, LSTM, GRU,
# minGRU, minLSTM, LRU, S6, sLSTM, mLSTM, seeds 1-3 (60 runs of 3,000 updates), two at a
# time with one torch thread each. The first six took 18 minutes on the 2-core
# development CPU; the four later cells' 12 runs at L = 50 alone took longer (their times
# in docs/RESULTS.md).
# The IRNN runs with its own (smaller) learning rate, hence its own sweep. Prints the
# table with the published column and writes one learning-curve figure per length next
# to the runs.
# Extra arguments go to every run, e.g. `scripts/selective_copy.sh trainer.max_epochs=4`.
source "$(dirname "$0")/_long_memory.sh"
CELLS=${CELLS:-rnn,lstm,gru,mingru,minlstm,lru,s6,slstm,mlstm}
long_memory selective_copy "$@"
