#!/usr/bin/env bash
# The adding problem at T = 50 and 100: tanh RNN, IRNN, LSTM, GRU, minGRU, minLSTM, seeds
# 1-3 (36 runs of 3,500 updates), two at a time with one torch thread each. It took 47 minutes on the 2-core development CPU (docs/RESULTS.md). The IRNN runs with its own
# (smaller) learning rate, hence its own sweep. Prints the table with the published
# column and writes one learning-curve figure per length next to the runs.
# Extra arguments go to every run, e.g. `scripts/adding.sh trainer.max_epochs=4`.
source "$(dirname "$0")/_long_memory.sh"
long_memory adding "$@"
