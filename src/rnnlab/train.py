"""``rnnlab-train``: train a model and test its best checkpoint.

Examples::

    rnnlab-train                                  # LSTM on sine waves
    rnnlab-train model=gru model.bidirectional=true trainer.max_epochs=5
    rnnlab-train -m model=rnn,lstm,gru seed=1,2,3  # a sweep of 9 jobs
"""

from rnnlab.cli import hydra_main
from rnnlab.experiment import train

main = hydra_main("train", train)

if __name__ == "__main__":
    main()
