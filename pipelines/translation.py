"""Translation pipeline: train -> evaluate on test -> export a SavedModel that translates.

The settings of a run live in a commented config file: ``configs/translation/demo.yaml``
(the packaged Multi30k sample, 3,000 German-English training pairs; a small model, a few
minutes on 2 CPU cores; expect rough translations of frequent phrases only; what ``make
demo`` runs)::

    python -m pipelines.translation --config configs/translation/demo.yaml --run-dir runs/tr

and ``configs/translation/benchmark.yaml`` (Multi30k: train 29,000 pairs, select on val,
report test_2016_flickr; LSTM encoder-decoder with Bahdanau attention and beam search: test
BLEU 32.3 after about 34 minutes of training on 2 CPU cores, docs/BENCHMARKS.md)::

    python -m pipelines.translation --config configs/translation/benchmark.yaml --run-dir runs/m30k

Any config key can be overridden as key=value, before or after the options (``seqapps config
translation`` lists them).
Metric: corpus BLEU and chrF (sacrebleu, detokenised, case-insensitive) of beam search.
"""

import sys

from seqapps.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "translation", *sys.argv[1:]]))
