"""Stock forecasting pipeline: train -> evaluate on the test period -> export a SavedModel.

Run (the packaged sample: 3 tickers, 3 years; about a minute on 2 CPU cores)::

    python -m pipelines.forecasting --run-dir runs/forecasting --out saved_models/forecasting

On the S&P 500 data (all tickers; see docs/BENCHMARKS.md for figures and runtimes)::

    python -m pipelines.forecasting data=../shared/data/stocks/all_stocks_5yr.csv.gz \
        fill=ffill test_start=2017-02-08 val_start=2016-08-08 --run-dir runs/sp500

Metrics: MASE (scaled by the in-sample one-step naive error) against the persistence,
drift and moving-average baselines on the same windows, per horizon.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "forecasting", *sys.argv[1:]]))
