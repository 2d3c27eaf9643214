# Shared by the long-memory recipes (adding.sh, copy.sh, selective_copy.sh): the cells
# at T = 100 and 50, seeds 1-3, two jobs at a time with one torch thread each; the IRNN in
# its own sweep (its experiment gives it a smaller learning rate). Then one table and one
# learning-curve figure per length next to the runs, and the table of both lengths.
# Three variables choose the jobs: CELLS (the first sweep's cells, comma-separated; default
# rnn,lstm,gru,mingru,minlstm, or what the recipe sets), IRNN (0: skip the IRNN's sweep)
# and LENGTHS (default "100 50"), e.g.
# `CELLS=lru,s6,slstm,mlstm IRNN=0 LENGTHS=50 scripts/selective_copy.sh`.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
long_memory() {  # long_memory TASK [extra arguments for every run]
  local task=$1 T
  shift
  local sweep=logs/tables/$task/$STAMP
  local cells=${CELLS:-rnn,lstm,gru,mingru,minlstm}
  local lengths=${LENGTHS:-100 50}
  local parallel=(launcher=local launcher.n_jobs=2 trainer.threads=1)
  local irnn=(model=rnn model.nonlinearity=relu model.init=identity)  # lr: the experiment's
  for T in $lengths; do
    train -m experiment="$task" model="$cells" data.length=$T seed=1,2,3 \
      "${parallel[@]}" hydra.sweep.dir="$sweep/T$T/cells" "$@"
    if [ "${IRNN:-1}" != 0 ]; then
      train -m experiment="$task" "${irnn[@]}" data.length=$T seed=1,2,3 \
        "${parallel[@]}" hydra.sweep.dir="$sweep/T$T/irnn" "$@"
    fi
  done
  local by=data.length,model.cell,model.nonlinearity,model.init,optimizer.lr
  local metrics=test/loss,baseline/loss,test/acc,baseline/acc,model/params
  for T in $lengths; do
    table "$sweep/T$T" --by "$by" --metrics "$metrics" --plot "$sweep/curves_T$T.png" \
      --plot-metric val/loss --output "$sweep/table_T$T.md"
  done
  table "$sweep" --by "$by" --metrics "$metrics"
}
