"""Tweet sentiment pipeline: train -> evaluate on test -> export a SavedModel.

The settings of a run live in a commented config file: ``configs/sentiment/demo.yaml``
(the packaged sample, about a minute on 2 CPU cores; what ``make demo`` runs)::

    python -m pipelines.sentiment --config configs/sentiment/demo.yaml \
        --run-dir runs/sentiment --out saved_models/sentiment

and ``configs/sentiment/benchmark.yaml`` (TweetEval, the validation-selected LSTM; see
docs/BENCHMARKS.md for the measured figures and runtimes; ``cell=gru`` for the GRU)::

    python -m pipelines.sentiment --config configs/sentiment/benchmark.yaml --run-dir runs/tweeteval

Any config key can be overridden as key=value, before or after the options (``seqapps config
sentiment`` lists them; an unknown key lists the valid ones). Metric: TweetEval's
macro-averaged recall.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "sentiment", *sys.argv[1:]]))
