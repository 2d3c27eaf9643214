#!/usr/bin/env bash
# Selective copying at L = 50 and 100, 8 tokens from 8 symbols: tanh RNN, IRNN, LSTM, GRU,
# minGRU, minLSTM, seeds 1-3 (36 runs of 3,000 updates), two at a time with one torch
# thread each. About an hour on a 2-core CPU shared with other work (docs/RESULTS.md).
# The IRNN runs with its own (smaller) learning rate, hence its own sweep. Prints the
# table with the published column and writes one learning-curve figure per length next
# to the runs.
# Extra arguments go to every run, e.g. `scripts/selective_copy.sh trainer.max_epochs=4`.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/selective_copy/$STAMP
PARALLEL=(launcher=local launcher.n_jobs=2 trainer.threads=1)
IRNN=(model=rnn model.nonlinearity=relu model.init=identity optimizer.lr=0.0001)
for T in 100 50; do
  train -m experiment=selective_copy model=rnn,lstm,gru,mingru,minlstm data.length=$T seed=1,2,3 \
    "${PARALLEL[@]}" hydra.sweep.dir="$SWEEP/T$T/cells" "$@"
  train -m experiment=selective_copy "${IRNN[@]}" data.length=$T seed=1,2,3 \
    "${PARALLEL[@]}" hydra.sweep.dir="$SWEEP/T$T/irnn" "$@"
done
BY=data.length,model.cell,model.nonlinearity,model.init,optimizer.lr
METRICS=test/loss,baseline/loss,test/acc,baseline/acc,model/params
for T in 50 100; do
  table "$SWEEP/T$T" --by "$BY" --metrics "$METRICS" --plot "$SWEEP/curves_T$T.png" \
    --plot-metric val/loss --output "$SWEEP/table_T$T.md"
done
table "$SWEEP" --by "$BY" --metrics "$METRICS"
