#!/usr/bin/env bash
# Row-wise sequential MNIST (28 steps x 28 pixels): RNN, LSTM, GRU with 128 units, 3 seeds.
# Test accuracy of the best checkpoint by val/loss (test/acc) and of the last epoch's
# weights (test_last/acc; the experiment sets test_last=true).
# Needs the four MNIST files (downloaded on first use into data/mnist). On a machine
# with only the test files, add `data.protocol=test10k` (an 8000/1000/1000 split).
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/smnist_row/$STAMP
train -m experiment=smnist_row model=rnn,lstm,gru seed=1,2,3 \
  hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --metrics test/acc,test_last/acc,val/acc_best,model/params
