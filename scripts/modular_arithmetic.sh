#!/usr/bin/env bash
# Modular arithmetic without brackets with a length split (experiment=modular_arithmetic,
# Deletang et al. 2023): the value of n0 ± n1 ± ... mod 5, trained on expressions of 1-40
# tokens, tested on longer ones (accuracy per bucket of 20 lengths, odd lengths only;
# guessing 0.2). Nine cells (tanh RNN, LSTM, GRU, minGRU, minLSTM, LRU, S6, sLSTM, mLSTM),
# seeds 1-3, the experiment's settings for every cell (one layer of 64 units, Adam lr 1e-2,
# clipping at 1.0, batches of 64) cut to fit 27 runs into about 45 minutes of a shared
# 2-core CPU: lengths halved (train on 1-20 tokens, test on 21-60: buckets 21-39 and
# 41-59), 30 epochs of 50 batches (1,500 updates instead of 2,000) and 500 validation
# expressions instead of 2,000 (validating 2,000 long expressions every epoch took as
# long as the training). The test set keeps its 2,000. There is no in-distribution
# held-out split: train/acc is the accuracy on the training lengths over the last epoch.
# Extra arguments go to every run, e.g. `scripts/modular_arithmetic.sh seed=1`.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/modular_arithmetic/$STAMP
# seed is named first so that the sweep runs every cell of seed 1 before seed 2: a sweep cut
# short still has each cell once.
train -m experiment=modular_arithmetic seed=1,2,3 \
  model=rnn,lstm,gru,mingru,minlstm,lru,s6,slstm,mlstm data.val_size=500 \
  data.train_max_length=20 data.eval_max_length=60 trainer.max_epochs=30 \
  hydra.sweep.dir="$SWEEP" "$@"
table "$SWEEP" --by model.cell --plot "$SWEEP/curves.png" --plot-metric val/acc \
  --metrics train/acc,test/acc_len_21_39,test/acc_len_41_59,test/acc,model/params
