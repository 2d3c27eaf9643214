#!/usr/bin/env bash
# JapaneseVowels (UEA multivariate archive, 2018): the archive's official TRAIN/TEST split
# (270/370 utterances, 12 channels, 7-29 steps, 9 speakers), tanh RNN, LSTM, GRU, minGRU,
# minLSTM, seeds 1-3, the defaults otherwise (one layer of 64 units, Adam, cosine decay).
# test/acc is the test accuracy of the best checkpoint by val/loss (a validation split
# taken out of TRAIN with the run's seed). Needs data/uea/JapaneseVowels/*.ts (or
# RNNLAB_DATA_DIR pointing at the folder that holds uea/). Extra arguments go to every run.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/uea/$STAMP
train -m data=uea data.name=JapaneseVowels model=rnn,lstm,gru,mingru,minlstm seed=1,2,3 \
  hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --by model.cell --metrics test/acc,val/acc_best,model/params
