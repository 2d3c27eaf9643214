#!/usr/bin/env bash
# The char-LM head-to-head on a CPU budget (docs/RESULTS.md): experiment=chars_shakespeare_cpu
# for seeds 1-3, one process after another so that each run's wall time from process start
# (time/process_s) is what a user waits; run nothing else meanwhile. Prints the table of the
# held-out loss (test_last/loss, nats per character) and the times.
source "$(dirname "$0")/_common.sh"
SWEEP=logs/tables/chars_cpu/$STAMP
for seed in 1 2 3; do
  train experiment=chars_shakespeare_cpu seed=$seed hydra.run.dir="$SWEEP/$seed" "$@"
done
table "$SWEEP" --metrics test_last/loss,test_last/bpc,val/loss_best,time/process_s,threads,model/params
