"""rnnlab-train: train a recurrent network, test its best checkpoint, write metrics.json.

rnnlab-train                                   # LSTM forecasting sine waves (no download)
rnnlab-train model=gru model.hidden_size=128 trainer.max_epochs=5
rnnlab-train experiment=smnist_row             # sequential MNIST, row by row
rnnlab-train -m model=rnn,lstm,gru seed=1,2,3  # a sweep of 9 jobs
rnnlab-train resume_dir=logs/train/runs/<run>  # continue a stopped run
"""

from rnnlab.cli.app import hydra_main

main = hydra_main("train", "rnnlab.run.job:train")

if __name__ == "__main__":
    main()
