#!/usr/bin/env bash
# Parity with a length split (experiment=parity, Deletang et al. 2023): train on bit strings
# of lengths 1-40, test on lengths 41-100 (accuracy per bucket of 20 lengths; guessing 0.5).
# Nine cells (tanh RNN, LSTM, GRU, minGRU, minLSTM, LRU, S6, sLSTM, mLSTM), seeds 1-3, the
# experiment's settings for every cell (one layer of 64 units, Adam lr 1e-2, clipping at
# 1.0, 30 epochs of 50 batches of 64 = 1,500 updates). There is no in-distribution
# held-out split: train/acc is the accuracy on the training lengths over the last epoch.
# Extra arguments go to every run, e.g. `scripts/parity.sh seed=1`.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/parity/$STAMP
# seed is named first so that the sweep runs every cell of seed 1 before seed 2: a sweep cut
# short still has each cell once.
train -m experiment=parity seed=1,2,3 model=rnn,lstm,gru,mingru,minlstm,lru,s6,slstm,mlstm \
  hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --by model.cell --plot "$SWEEP/curves.png" --plot-metric val/acc \
  --metrics train/acc,test/acc_len_41_60,test/acc_len_61_80,test/acc_len_81_100,test/acc,model/params
