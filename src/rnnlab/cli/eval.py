"""rnnlab-eval: test a checkpoint again, on the data it was trained for.

rnnlab-eval ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt
"""

from rnnlab.cli.app import hydra_main

main = hydra_main("eval", "rnnlab.run.job:evaluate")

if __name__ == "__main__":
    main()
