#!/usr/bin/env bash
# Pixel-wise sequential MNIST (784 steps): tanh RNN, LSTM, GRU, 3 seeds. A GPU job.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/smnist_pixel/$STAMP
train -m experiment=smnist_pixel model=rnn,lstm,gru seed=1,2,3 hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --metrics test/acc,val/acc_best,model/params
