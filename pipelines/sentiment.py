"""Tweet sentiment pipeline: train -> evaluate on test -> export a SavedModel.

Run (the packaged sample, about a minute on 2 CPU cores)::

    python -m pipelines.sentiment --run-dir runs/sentiment --out saved_models/sentiment

On TweetEval (see docs/BENCHMARKS.md for the measured figures and runtimes)::

    python -m pipelines.sentiment data=../shared/data/sentiment/tweeteval/sentiment \
        cell=gru epochs=8 --run-dir runs/tweeteval-gru

Any config key can be overridden as key=value (``seqapps train sentiment --help`` lists
the command; an unknown key lists the valid ones). Metric: TweetEval's macro-averaged recall.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "sentiment", *sys.argv[1:]]))
