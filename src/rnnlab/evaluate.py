"""``rnnlab-eval ckpt_path=...``: test a checkpoint again, on the data it was trained for."""

from rnnlab.cli import hydra_main
from rnnlab.experiment import evaluate

main = hydra_main("eval", evaluate)

if __name__ == "__main__":
    main()
