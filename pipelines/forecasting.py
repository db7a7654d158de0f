"""Stock forecasting pipeline: train -> evaluate on the test period -> export a SavedModel.

The settings of a run live in a commented config file: ``configs/forecasting/demo.yaml``
(the packaged sample: 3 tickers, 3 years; about a minute on 2 CPU cores; what ``make demo``
runs)::

    python -m pipelines.forecasting --config configs/forecasting/demo.yaml \
        --run-dir runs/forecasting --out saved_models/forecasting

and ``configs/forecasting/benchmark.yaml`` (the S&P 500 data, all tickers, test = the last
year; the benchmark's GRU; see docs/BENCHMARKS.md for figures and runtimes)::

    python -m pipelines.forecasting --config configs/forecasting/benchmark.yaml --run-dir runs/sp500

Any config key can be overridden as key=value, before or after the options (``seqapps config
forecasting`` lists them).

Metrics: MASE (scaled by the in-sample one-step naive error) against the persistence,
drift and moving-average baselines on the same windows, per horizon.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "forecasting", *sys.argv[1:]]))
