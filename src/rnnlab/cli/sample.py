"""rnnlab-sample: continue a prompt with a trained character language model.

Everything comes from the checkpoint (weights, vocabulary, model config); the seed fixes
the draws, so the same command prints the same text.

  rnnlab-sample ckpt_path=<run>/checkpoints/best.ckpt prompt="ROMEO:" length=500 temperature=0.8
"""

from rnnlab.cli.app import hydra_main

main = hydra_main("sample", "rnnlab.run.job:sample")

if __name__ == "__main__":
    main()
